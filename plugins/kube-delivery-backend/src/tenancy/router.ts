import type {
  AuditorService,
  HttpAuthService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { InputError, NotAllowedError } from '@backstage/errors';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  kubeDeliveryClaimReleasePermission,
  stringifyTargetRef,
} from '@internal/plugin-kube-delivery-common';
import express from 'express';
import Router from 'express-promise-router';
import { runAudited } from '../http/audited';
import type { ClaimKind, ClaimStore } from './ClaimStore';

const KINDS: readonly ClaimKind[] = ['service', 'host'];
const NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

/**
 * Claims of names per environment: anyone signed in may list them (they
 * name entities, as the catalog does); releasing one is a platform admin's
 * permission, audited.
 */
export function createClaimsRouter(options: {
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  auditor: AuditorService;
  claims: ClaimStore;
  environment: (name: string) => { name: string };
}): express.Router {
  const { httpAuth, permissions, auditor, claims } = options;
  const router = Router();

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
      const kind = req.params.claimKind as ClaimKind;
      const name = req.params.claimName;
      if (!KINDS.includes(kind)) {
        throw new InputError(`Claim kind must be one of ${KINDS.join(', ')}`);
      }
      if (!NAME.test(name)) {
        throw new InputError(
          'Claimed name must be a lowercase service name or host name',
        );
      }
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

  return router;
}
