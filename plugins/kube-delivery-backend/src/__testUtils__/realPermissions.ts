import { permissionsServiceFactory } from '@backstage/backend-defaults/permissions';
import { createBackendModule } from '@backstage/backend-plugin-api';
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

/**
 * Backstage's own permission backend deciding with a real policy, and the
 * plugin asking it through the real permission client (which, as in
 * production, allows service principals without asking the policy).
 * Use with `startDeliveryBackend({ features })` and
 * `configure: enablePermissions`.
 */
export function realPermissions(policy: PermissionPolicy) {
  return [
    permissionBackend,
    permissionsServiceFactory,
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
