import { mockCredentials, mockServices } from '@backstage/backend-test-utils';
import type {
  BackstageCredentials,
  PermissionsRegistryService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import type { Entity } from '@backstage/catalog-model';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import {
  AuthorizeResult,
  type PolicyDecision,
} from '@backstage/plugin-permission-common';
import {
  createConditionAuthorizer,
  type PermissionRule,
} from '@backstage/plugin-permission-node';
import {
  createKubeDeliveryTargetConditionalDecision,
  kubeDeliveryCertificatePermission,
  kubeDeliveryDeployPermission,
  kubeDeliveryReadPermission,
  kubeDeliveryRoutePermission,
  kubeDeliveryTargetConditions as target,
} from '@internal/plugin-kube-delivery-common';
import {
  KubeDeliveryAuthorizer,
  type ServicePrincipalCheck,
} from './authorize';
import {
  kubeDeliveryTargetResourceRef,
  TargetLoader,
  type KubeDeliveryTarget,
} from './target';

const owned: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: { name: 'cart', namespace: 'default' },
  spec: { owner: 'group:default/team-a', lifecycle: 'production' },
  relations: [{ type: 'ownedBy', targetRef: 'group:default/team-a' }],
};
const cartRef = 'component:default/cart';

/** A registry that keeps what is registered, as the permissions registry service does. */
function registry() {
  const rules = new Map<string, PermissionRule<any, any, string>>();
  const added: Array<{
    resourceType: string;
    permissions: string[];
    getResources?: (refs: string[]) => Promise<unknown[]>;
  }> = [];
  const service = {
    addPermissions: () => {},
    addPermissionRules: () => {},
    addResourceType: (options: any) => {
      for (const rule of options.rules) rules.set(rule.name, rule);
      added.push({
        resourceType: options.resourceRef.resourceType,
        permissions: options.permissions.map((p: any) => p.name),
        getResources: options.getResources,
      });
    },
    getPermissionRuleset: () => ({
      getRuleByName: (name: string) => {
        const rule = rules.get(name);
        if (!rule) throw new Error(`No rule ${name}`);
        return rule;
      },
    }),
  } as unknown as PermissionsRegistryService;
  return { service, added };
}

/** A catalog of one entity that records with which credentials it was read. */
function catalog() {
  const readAs: BackstageCredentials[] = [];
  const service = {
    getEntitiesByRefs: async (
      request: { entityRefs: string[] },
      options: { credentials: BackstageCredentials },
    ) => {
      readAs.push(options.credentials);
      return {
        items: request.entityRefs.map(ref =>
          ref === cartRef ? owned : undefined,
        ),
      };
    },
  } as unknown as CatalogService;
  return { service, readAs };
}

function authorizerWith(
  decide: (permission: string) => PolicyDecision,
  servicePrincipals?: ServicePrincipalCheck,
) {
  const reg = registry();
  const permissions = {
    authorizeConditional: async (
      requests: Array<{ permission: { name: string } }>,
    ) => requests.map(r => decide(r.permission.name)),
    // As Backstage's permission backend answers: a target's conditions are
    // applied to what the plugin's getResources loads. Reads: only the cart.
    authorize: (
      requests: Array<{
        permission: { name: string; resourceType?: string };
        resourceRef?: string;
      }>,
    ) =>
      Promise.all(
        requests.map(async r => {
          if (r.permission.resourceType !== 'kube-delivery-target') {
            return {
              result:
                r.resourceRef === cartRef
                  ? AuthorizeResult.ALLOW
                  : AuthorizeResult.DENY,
            };
          }
          const decision = decide(r.permission.name);
          if (decision.result !== AuthorizeResult.CONDITIONAL) return decision;
          const [resource] = (await reg.added[0].getResources!([
            r.resourceRef!,
          ])) as Array<KubeDeliveryTarget | undefined>;
          const apply = createConditionAuthorizer(
            reg.service.getPermissionRuleset(kubeDeliveryTargetResourceRef),
          );
          return {
            result: apply(decision, resource)
              ? AuthorizeResult.ALLOW
              : AuthorizeResult.DENY,
          };
        }),
      ),
  } as unknown as PermissionsService;
  const cat = catalog();
  const loader = new TargetLoader({
    environments: [
      { name: 'dev', protected: false },
      { name: 'production', protected: true },
    ],
    catalog: cat.service,
    auth: mockServices.auth({ pluginId: 'kube-delivery' }),
  });
  const authorizer = KubeDeliveryAuthorizer.create({
    permissions,
    permissionsRegistry: reg.service,
    loader,
    ...(servicePrincipals && { servicePrincipals }),
  });
  return { authorizer, registry: reg, catalog: cat };
}

const alice = mockCredentials.user('user:default/alice');
/** Owners of the entity, outside protected environments. */
const ownersOutsideProtected = (
  permission: typeof kubeDeliveryDeployPermission,
) =>
  createKubeDeliveryTargetConditionalDecision(permission, {
    allOf: [
      target.isEntityOwner({
        claims: ['user:default/alice', 'group:default/team-a'],
      }),
      { not: target.isProtectedEnvironment() },
    ],
  });

describe('KubeDeliveryAuthorizer', () => {
  it('registers the kube-delivery-target resource type with its permissions and a loader', async () => {
    const { registry: reg, catalog: cat } = authorizerWith(() => ({
      result: AuthorizeResult.DENY,
    }));
    expect(reg.added).toEqual([
      expect.objectContaining({
        resourceType: 'kube-delivery-target',
        permissions: expect.arrayContaining([
          'kube-delivery.deployment.create',
          'kube-delivery.certificate.update',
          'kube-delivery.route.admin',
        ]),
      }),
    ]);
    // What Backstage's permission backend asks through the integration endpoint.
    const resources = await reg.added[0].getResources!([
      `dev:${cartRef}`,
      'production',
      'nowhere:component:default/cart',
      'dev:component:default/unknown',
    ]);
    expect(resources).toEqual([
      {
        environment: { name: 'dev', protected: false },
        entityRef: cartRef,
        entity: owned,
      },
      { environment: { name: 'production', protected: true } },
      undefined,
      {
        environment: { name: 'dev', protected: false },
        entityRef: 'component:default/unknown',
      },
    ]);
    // With the plugin's own credentials, not a user's.
    expect(cat.readAs.map(c => c.principal)).toEqual([
      expect.objectContaining({
        type: 'service',
        subject: 'plugin:kube-delivery',
      }),
    ]);
  });

  it("asks for the target by its ref; the owner's service in dev, not in production", async () => {
    const { authorizer, catalog: cat } = authorizerWith(name =>
      name === kubeDeliveryDeployPermission.name
        ? ownersOutsideProtected(kubeDeliveryDeployPermission)
        : { result: AuthorizeResult.DENY },
    );
    await expect(
      authorizer.authorize(alice, kubeDeliveryDeployPermission, {
        environment: 'dev',
        entityRef: cartRef,
      }),
    ).resolves.toBeUndefined();
    await expect(
      authorizer.authorize(alice, kubeDeliveryDeployPermission, {
        environment: 'production',
        entityRef: cartRef,
      }),
    ).rejects.toThrow(
      `You may not kube-delivery.deployment.create on production:${cartRef}; production is protected: ask your platform team`,
    );
    // Several permissions at once: the first refused one is named.
    await expect(
      authorizer.authorize(
        alice,
        [kubeDeliveryDeployPermission, kubeDeliveryRoutePermission],
        { environment: 'dev', entityRef: cartRef },
      ),
    ).rejects.toThrow(
      `You may not kube-delivery.route.update on dev:${cartRef}; ask the entity's owners or your platform team`,
    );
    await expect(
      authorizer.authorize(alice, kubeDeliveryCertificatePermission, {
        environment: 'dev',
      }),
    ).rejects.toThrow(
      'You may not kube-delivery.certificate.update on dev; ask your platform team',
    );
    // The permission backend loaded the entity with the plugin's credentials.
    expect(
      new Set(cat.readAs.map(c => (c.principal as { type: string }).type)),
    ).toEqual(new Set(['service']));
  });

  it('applies conditions locally to a list of targets, the entities read as the caller sees them', async () => {
    const { authorizer, catalog: cat } = authorizerWith(() =>
      ownersOutsideProtected(kubeDeliveryRoutePermission),
    );
    expect(
      await authorizer.decideMany(
        alice,
        [kubeDeliveryRoutePermission],
        [
          { environment: 'dev', entityRef: cartRef },
          { environment: 'production', entityRef: cartRef },
          { environment: 'dev', entityRef: 'component:default/unknown' },
          { environment: 'dev', entityRef: cartRef, entity: owned },
        ],
      ),
    ).toEqual([[true], [false], [false], [true]]);
    expect(cat.readAs).toEqual([alice]);
  });

  it('decides many targets with one question per permission', async () => {
    const asked: string[] = [];
    const { authorizer } = authorizerWith(name => {
      asked.push(name);
      return createKubeDeliveryTargetConditionalDecision(
        kubeDeliveryCertificatePermission,
        {
          anyOf: [
            target.isEnvironment({ names: ['dev'] }),
            target.isKind({ kinds: ['Resource'] }),
          ],
        },
      );
    });
    expect(
      await authorizer.decideMany(
        alice,
        [kubeDeliveryCertificatePermission],
        [
          { environment: 'dev' },
          { environment: 'production' },
          { environment: 'production', entityRef: 'resource:default/redis' },
          { environment: 'nowhere' },
        ],
      ),
    ).toEqual([[true], [false], [true], [false]]);
    expect(asked).toEqual(['kube-delivery.certificate.update']);
  });

  it("refuses a conditional decision of another plugin's resource type", async () => {
    const { authorizer } = authorizerWith(() => ({
      result: AuthorizeResult.CONDITIONAL,
      pluginId: 'catalog',
      resourceType: 'catalog-entity',
      conditions: {
        rule: 'IS_ENTITY_OWNER',
        resourceType: 'catalog-entity',
        params: { claims: [] },
      },
    }));
    expect(
      await authorizer.decideMany(
        alice,
        [kubeDeliveryDeployPermission],
        [{ environment: 'dev', entityRef: cartRef, entity: owned }],
      ),
    ).toEqual([[false]]);
  });

  it('asks a service-principal check first, which may refuse what the permission client allows', async () => {
    const { authorizer } = authorizerWith(
      () => ({ result: AuthorizeResult.ALLOW }),
      (credentials, request) => {
        if ((credentials.principal as { type: string }).type !== 'service')
          return { result: 'not-a-service' };
        if (request.environment === 'dev') return { result: 'allow' };
        return {
          result: 'deny',
          message: `Service principal "ci" may not ${request.permission.name} in ${request.environment}`,
        };
      },
    );
    const ci = mockCredentials.service('ci');
    await expect(
      authorizer.authorize(ci, kubeDeliveryDeployPermission, {
        environment: 'dev',
        entityRef: cartRef,
      }),
    ).resolves.toBeUndefined();
    await expect(
      authorizer.authorize(ci, kubeDeliveryDeployPermission, {
        environment: 'production',
        entityRef: cartRef,
      }),
    ).rejects.toThrow(
      'Service principal "ci" may not kube-delivery.deployment.create in production',
    );
    expect(await authorizer.readableEntities(ci, [cartRef])).toEqual(new Set());
  });

  it('reads the catalog as the plugin for a service principal, whose token may be limited to Kube Delivery', async () => {
    const { authorizer, catalog: cat } = authorizerWith(() =>
      ownersOutsideProtected(kubeDeliveryRoutePermission),
    );
    const ci = mockCredentials.service('ci');
    expect(await authorizer.catalogCredentials(ci)).toMatchObject({
      principal: { type: 'service', subject: 'plugin:kube-delivery' },
    });
    expect(await authorizer.catalogCredentials(alice)).toBe(alice);
    await authorizer.decideMany(
      ci,
      [kubeDeliveryRoutePermission],
      [{ environment: 'dev', entityRef: cartRef }],
    );
    expect(cat.readAs.map(c => c.principal)).toEqual([
      expect.objectContaining({ subject: 'plugin:kube-delivery' }),
    ]);
  });

  it('puts the service-principal check in front of the permissions service it lends to routers', async () => {
    const { authorizer } = authorizerWith(
      () => ({ result: AuthorizeResult.ALLOW }),
      (credentials, request) => {
        if ((credentials.principal as { type: string }).type !== 'service') {
          return { result: 'not-a-service' };
        }
        return request.environment === 'dev'
          ? { result: 'allow' }
          : {
              result: 'deny',
              message: `Service principal "ci" may not ${request.permission.name} in ${request.environment}`,
            };
      },
    );
    const permissions = authorizer.permissionsService();
    const ci = mockCredentials.service('ci');
    const upload = (environment: string) => [
      {
        permission: kubeDeliveryCertificatePermission,
        resourceRef: environment,
      },
    ];
    await expect(
      permissions.authorize(upload('dev'), { credentials: ci }),
    ).resolves.toEqual([{ result: AuthorizeResult.ALLOW }]);
    await expect(
      permissions.authorize(upload('production'), { credentials: ci }),
    ).rejects.toThrow(
      'Service principal "ci" may not kube-delivery.certificate.update in production',
    );
    // Users go to the policy.
    await expect(
      permissions.authorize(upload('production'), { credentials: alice }),
    ).resolves.toEqual([{ result: AuthorizeResult.ALLOW }]);
  });

  it('tells which entities the caller may read, one batch to the policy', async () => {
    const { authorizer } = authorizerWith(() => ({
      result: AuthorizeResult.DENY,
    }));
    expect(
      await authorizer.readableEntities(alice, [
        cartRef,
        'component:default/other',
        cartRef,
      ]),
    ).toEqual(new Set([cartRef]));
    expect(kubeDeliveryReadPermission.resourceType).toBe('catalog-entity');
  });
});
