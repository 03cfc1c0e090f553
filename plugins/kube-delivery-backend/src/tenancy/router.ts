import type {
  AuditorService,
  HttpAuthService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { NotAllowedError } from '@backstage/errors';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  kubeDeliveryClaimReleasePermission,
  stringifyTargetRef,
} from '@internal/plugin-kube-delivery-common';
import type { ApiRouter } from '../http/apiRouter';
import { runAudited } from '../http/audited';
import type { ClaimStore } from './ClaimStore';

/**
 * Claims of names per environment: anyone signed in may list them (they
 * name entities, as the catalog does); releasing one is a platform admin's
 * permission, audited.
 */
export function addClaimRoutes(
  router: ApiRouter,
  options: {
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  auditor: AuditorService;
  claims: ClaimStore;
  environment: (name: string) => { name: string };
  },
): void {
  const { httpAuth, permissions, auditor, claims } = options;

  router.get('/environments/:name/claims', async (req, res) => {
    await httpAuth.credentials(req, { allow: ['user', 'service'] });
    const environment = options.environment(req.params.name);
    res.json({ items: await claims.list(environment.name) });
  });

  router.delete(
    '/environments/:name/claims/:claimKind/:claimName',
    async (req, res) => {
      // A person's decision: service principals pass Backstage's permission
      // client without a policy decision, so none may release a claim.
      const credentials = await httpAuth.credentials(req, { allow: ['user'] });
      const environment = options.environment(req.params.name);
      // The target is the environment: Backstage's permission backend
      // evaluates a policy's conditions on it through the plugin's integration.
      const target = stringifyTargetRef({ environment: environment.name });
      const [decision] = await permissions.authorize(
        [
          {
            permission: kubeDeliveryClaimReleasePermission,
            resourceRef: target,
          },
        ],
        { credentials },
      );
      if (decision.result !== AuthorizeResult.ALLOW) {
        throw new NotAllowedError(
          `You may not ${kubeDeliveryClaimReleasePermission.name} on ${target}; releasing a claim is for platform admins`,
        );
      }
      const { claimKind: kind, claimName: name } = req.params;
      const released = await runAudited(
        auditor,
        {
          request: req,
          eventId: 'claim-release',
          severityLevel: 'high',
          meta: { environment: environment.name, kind, name },
        },
        () => claims.release(environment.name, { kind, name }),
      );
      res.json(released);
    },
  );

}
