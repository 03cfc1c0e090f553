import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  createKubeDeliveryTargetConditionalDecision,
  kubeDeliveryDeployPermission,
  kubeDeliveryPermissions,
  kubeDeliveryReadPermission,
  kubeDeliveryReleaseCreatePermission,
  kubeDeliveryTargetConditions,
  kubeDeliveryTargetPermissions,
  KUBE_DELIVERY_TARGET_RULES,
  parseTargetRef,
  RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
  stringifyTargetRef,
} from './permissions';

describe('target refs', () => {
  it('round-trips an entity in an environment and an environment alone', () => {
    for (const target of [
      { environment: 'dev', entityRef: 'component:default/cart' },
      { environment: 'production', entityRef: 'resource:team-a/redis-cart' },
      { environment: 'test' },
    ]) {
      expect(parseTargetRef(stringifyTargetRef(target))).toEqual(target);
    }
    expect(
      stringifyTargetRef({
        environment: 'dev',
        entityRef: 'component:default/cart',
      }),
    ).toBe('dev:component:default/cart');
    expect(stringifyTargetRef({ environment: 'production' })).toBe(
      'production',
    );
  });
});

describe('permissions', () => {
  it('has unique dotted names and puts what is done in an environment on the target type', () => {
    const names = kubeDeliveryPermissions.map(p => p.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.every(n => /^kube-delivery(\.[a-z-]+)+$/.test(n))).toBe(true);
    expect(kubeDeliveryTargetPermissions.map(p => p.name).sort()).toEqual([
      'kube-delivery.certificate.update',
      'kube-delivery.claim.delete',
      'kube-delivery.deployment.approve',
      'kube-delivery.deployment.bypass-approval',
      'kube-delivery.deployment.create',
      'kube-delivery.rollback.create',
      'kube-delivery.route.admin',
      'kube-delivery.route.update',
    ]);
    // Not in an environment: on the catalog entity.
    expect(kubeDeliveryReadPermission.resourceType).toBe('catalog-entity');
    expect(kubeDeliveryReleaseCreatePermission.resourceType).toBe(
      'catalog-entity',
    );
  });
});

describe('target conditions', () => {
  it('builds conditions of the target rules and a conditional decision of the plugin', () => {
    const { isEntityOwner, isProtectedEnvironment, isEnvironment } =
      kubeDeliveryTargetConditions;
    expect(isProtectedEnvironment()).toEqual({
      resourceType: RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
      rule: KUBE_DELIVERY_TARGET_RULES.isProtectedEnvironment,
    });
    expect(
      createKubeDeliveryTargetConditionalDecision(
        kubeDeliveryDeployPermission,
        {
          anyOf: [
            isEnvironment({ names: ['dev'] }),
            isEntityOwner({ claims: ['group:default/sre'] }),
          ],
        },
      ),
    ).toEqual({
      result: AuthorizeResult.CONDITIONAL,
      pluginId: 'kube-delivery',
      resourceType: 'kube-delivery-target',
      conditions: {
        anyOf: [
          {
            resourceType: 'kube-delivery-target',
            rule: 'IS_ENVIRONMENT',
            params: { names: ['dev'] },
          },
          {
            resourceType: 'kube-delivery-target',
            rule: 'IS_ENTITY_OWNER',
            params: { claims: ['group:default/sre'] },
          },
        ],
      },
    });
  });
});
