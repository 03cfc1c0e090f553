import { permissionsServiceFactory } from '@backstage/backend-defaults/permissions';
import {
  coreServices,
  createBackendModule,
  createServiceFactory,
  type AuthService,
  type BackstageUserPrincipal,
} from '@backstage/backend-plugin-api';
import { mockCredentials, mockServices } from '@backstage/backend-test-utils';
import permissionBackend from '@backstage/plugin-permission-backend';
import {
  AuthorizeResult,
  type PolicyDecision,
} from '@backstage/plugin-permission-common';
import type {
  PermissionPolicy,
  PolicyQuery,
  PolicyQueryUser,
} from '@backstage/plugin-permission-node';
import { policyExtensionPoint } from '@backstage/plugin-permission-node/alpha';

/** Ownership claims per user entity ref: the groups each user is a member of. */
export type Ownership = Record<string, string[]>;

/**
 * The user info the permission backend gives the policy: a user's
 * ownership claims are the user and the groups `ownership` lists for them.
 */
function userInfoWith(ownership: Ownership) {
  return createServiceFactory({
    service: coreServices.userInfo,
    deps: {},
    factory: () => ({
      async getUserInfo(credentials) {
        const principal = credentials.principal as BackstageUserPrincipal;
        if (principal.type !== 'user') {
          throw new Error(`No user info of a ${principal.type} principal`);
        }
        const ref = principal.userEntityRef;
        return {
          userEntityRef: ref,
          ownershipEntityRefs: [ref, ...(ownership[ref] ?? [])],
        };
      },
    }),
  });
}

/**
 * The mock auth service, but a plugin's token on behalf of a user names the
 * plugin as the actor, as Backstage's real one does: the permissions
 * registry's apply-conditions endpoint refuses a user without an actor, so
 * without it the permission backend could not evaluate a conditional
 * decision through a plugin's permission integration.
 */
const authWithActors = createServiceFactory({
  service: coreServices.auth,
  deps: {
    plugin: coreServices.pluginMetadata,
    config: coreServices.rootConfig,
  },
  factory({ plugin, config }) {
    const inner = mockServices.auth({
      pluginId: plugin.getId(),
      disableDefaultAuthPolicy: Boolean(
        config.getOptionalBoolean(
          'backend.auth.dangerouslyDisableDefaultAuthPolicy',
        ),
      ),
    });
    const getPluginRequestToken: AuthService['getPluginRequestToken'] =
      async options => {
        const principal = options.onBehalfOf.principal as {
          type: string;
          userEntityRef?: string;
        };
        if (principal.type !== 'user') {
          return inner.getPluginRequestToken(options);
        }
        return {
          token: mockCredentials.user.token(principal.userEntityRef, {
            actor: { subject: `plugin:${plugin.getId()}` },
          }),
        };
      };
    return new Proxy(inner, {
      get(target, property) {
        if (property === 'getPluginRequestToken') return getPluginRequestToken;
        const value = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  },
});

/**
 * Backstage's own permission backend deciding with a real policy, and the
 * plugin asking it through the real permission client (which, as in
 * production, allows service principals without asking the policy). A
 * conditional decision on a resource is evaluated, as in production, by
 * the plugin that owns the resource type through its permission
 * integration endpoint. Use with `startDeliveryBackend({ features })` and
 * `configure: enablePermissions`.
 */
export function realPermissions(
  policy: PermissionPolicy,
  options: { ownership?: Ownership } = {},
) {
  return [
    permissionBackend,
    permissionsServiceFactory,
    authWithActors,
    userInfoWith(options.ownership ?? {}),
    createBackendModule({
      pluginId: 'permission',
      moduleId: 'kube-delivery-test-policy',
      register(reg) {
        reg.registerInit({
          deps: { policy: policyExtensionPoint },
          async init({ policy: extension }) {
            extension.setPolicy(policy);
          },
        });
      },
    }),
  ];
}

/** A policy that decides by permission name and the user's entity ref; everything else is denied. */
export class UserPolicy implements PermissionPolicy {
  readonly asked: Array<{ permission: string; user?: string }> = [];

  constructor(
    private readonly allow: (permission: string, user: string) => boolean,
  ) {}

  async handle(
    request: PolicyQuery,
    user?: PolicyQueryUser,
  ): Promise<PolicyDecision> {
    const who = user?.info.userEntityRef;
    this.asked.push({ permission: request.permission.name, user: who });
    return {
      result:
        who !== undefined && this.allow(request.permission.name, who)
          ? AuthorizeResult.ALLOW
          : AuthorizeResult.DENY,
    };
  }
}
