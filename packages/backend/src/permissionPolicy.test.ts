import { AuthorizeResult } from '@backstage/plugin-permission-common';
import type { PolicyQueryUser } from '@backstage/plugin-permission-node';
import {
  kubeDeliveryApprovePermission,
  kubeDeliveryBypassApprovalPermission,
  kubeDeliveryCertificatePermission,
  kubeDeliveryClaimReleasePermission,
  kubeDeliveryDeployPermission,
  kubeDeliveryPermissions,
  kubeDeliveryReadPermission,
  kubeDeliveryReleaseCreatePermission,
  kubeDeliveryRollbackPermission,
  kubeDeliveryRouteAdminPermission,
  kubeDeliveryRoutePermission,
  kubeDeliveryTargetConditions as target,
} from '@internal/plugin-kube-delivery-common';
import { KubeDeliveryDemoPolicy } from './permissionPolicy';

function userOf(userEntityRef: string, groups: string[] = []): PolicyQueryUser {
  return {
    info: { userEntityRef, ownershipEntityRefs: [userEntityRef, ...groups] },
  } as unknown as PolicyQueryUser;
}

const policy = new KubeDeliveryDemoPolicy();
const decide = (
  permission: (typeof kubeDeliveryPermissions)[number],
  user?: PolicyQueryUser,
) => policy.handle({ permission }, user);

const guest = userOf('user:development/guest');
const admin = userOf('user:default/admin');
const platform = userOf('user:default/sam', ['group:default/platform-admins']);
const developer = userOf('user:default/dana', ['group:default/team-a']);

const notProtected = { not: target.isProtectedEnvironment() };
const conditional = (resourceType: string, conditions: unknown) => ({
  result: AuthorizeResult.CONDITIONAL,
  pluginId: resourceType === 'catalog-entity' ? 'catalog' : 'kube-delivery',
  resourceType,
  conditions,
});

describe('KubeDeliveryDemoPolicy', () => {
  it('lets every signed-in user read, and denies a request without a user', async () => {
    for (const user of [guest, admin, developer]) {
      expect(await decide(kubeDeliveryReadPermission, user)).toEqual({
        result: AuthorizeResult.ALLOW,
      });
    }
    expect(await decide(kubeDeliveryReadPermission)).toEqual({
      result: AuthorizeResult.DENY,
    });
  });

  it('leaves the rest of Backstage open to signed-in users, as before', async () => {
    expect(
      await policy.handle(
        {
          permission: {
            type: 'resource',
            name: 'catalog.entity.read',
            attributes: { action: 'read' },
            resourceType: 'catalog-entity',
          },
        },
        developer,
      ),
    ).toEqual({ result: AuthorizeResult.ALLOW });
  });

  it('lets platform admins do everything', async () => {
    for (const user of [admin, platform]) {
      for (const permission of kubeDeliveryPermissions) {
        expect([permission.name, await decide(permission, user)]).toEqual([
          permission.name,
          { result: AuthorizeResult.ALLOW },
        ]);
      }
    }
  });

  it('lets owners deploy, roll back and route where the environment is not protected', async () => {
    const claims = ['user:default/dana', 'group:default/team-a'];
    for (const permission of [
      kubeDeliveryDeployPermission,
      kubeDeliveryRollbackPermission,
      kubeDeliveryRoutePermission,
    ]) {
      expect(await decide(permission, developer)).toEqual(
        conditional('kube-delivery-target', {
          allOf: [target.isEntityOwner({ claims }), notProtected],
        }),
      );
    }
    expect(
      await decide(kubeDeliveryReleaseCreatePermission, developer),
    ).toEqual(
      conditional('catalog-entity', {
        rule: 'IS_ENTITY_OWNER',
        resourceType: 'catalog-entity',
        params: { claims },
      }),
    );
  });

  it('lets the guest deploy and request protected deploys, route and upload certificates outside protected environments', async () => {
    for (const permission of [
      kubeDeliveryDeployPermission,
      kubeDeliveryRollbackPermission,
      kubeDeliveryReleaseCreatePermission,
    ]) {
      expect(await decide(permission, guest)).toEqual({
        result: AuthorizeResult.ALLOW,
      });
    }
    for (const permission of [
      kubeDeliveryRoutePermission,
      kubeDeliveryCertificatePermission,
    ]) {
      expect(await decide(permission, guest)).toEqual(
        conditional('kube-delivery-target', notProtected),
      );
    }
  });

  it('keeps approvals, bypasses, route admin, claims (and certificates but for the guest) to platform admins', async () => {
    for (const user of [guest, developer]) {
      for (const permission of [
        kubeDeliveryApprovePermission,
        kubeDeliveryBypassApprovalPermission,
        kubeDeliveryRouteAdminPermission,
        kubeDeliveryClaimReleasePermission,
      ]) {
        expect([permission.name, await decide(permission, user)]).toEqual([
          permission.name,
          { result: AuthorizeResult.DENY },
        ]);
      }
    }
    expect(await decide(kubeDeliveryCertificatePermission, developer)).toEqual({
      result: AuthorizeResult.DENY,
    });
  });
});
