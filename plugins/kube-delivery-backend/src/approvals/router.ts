import type {
  AuditorService,
  HttpAuthService,
} from '@backstage/backend-plugin-api';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { InputError, NotFoundError } from '@backstage/errors';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import type { Deployment } from '@internal/plugin-kube-delivery-common';
import express from 'express';
import Router from 'express-promise-router';
import type { DeploymentRecord } from '../database';
import { runAudited } from '../http/audited';
import { readBody } from '../http/body';
import type { ApprovalBypass, ApprovalService } from './ApprovalService';

const NAME_PART = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
const DEPLOYMENT_ID =
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * `POST …/deployments/:id/approve` and `POST …/deployments/:id/reject`
 * (`{ reason }`) of a deployment waiting for approval. Users only (a
 * service principal is a 403): the entity must be visible to the caller in
 * the catalog (404 otherwise), and the caller must hold
 * `kube-delivery.deployment.approve` on the target
 * `<environment>:<entity ref>`. Each is an auditor event.
 */
export function createApprovalsRouter(options: {
  httpAuth: HttpAuthService;
  auditor: AuditorService;
  catalog: CatalogService;
  approvals: ApprovalService;
}): express.Router {
  const { httpAuth, auditor, catalog, approvals } = options;
  const router = Router();
  router.use(express.json({ limit: '8kb' }));

  async function target(req: express.Request) {
    const credentials = await httpAuth.credentials(req, { allow: ['user'] });
    const { kind, namespace, name, id } = req.params;
    for (const part of [kind, namespace, name]) {
      if (!NAME_PART.test(part)) {
        throw new InputError(
          `Invalid entity reference part "${part.slice(0, 64)}"`,
        );
      }
    }
    if (!DEPLOYMENT_ID.test(id)) {
      throw new InputError(
        'id must be a deployment id (a UUID) from the deployments list',
      );
    }
    const entityRef = stringifyEntityRef({ kind, namespace, name });
    const entity = await catalog.getEntityByRef(entityRef, { credentials });
    if (!entity) throw new NotFoundError(`No entity ${entityRef}`);
    return { entityRef, id, credentials };
  }

  const path = '/entities/:kind/:namespace/:name/deployments/:id';

  router.post(`${path}/approve`, async (req, res) => {
    const { entityRef, id, credentials } = await target(req);
    readBody(req.body, {});
    const deployment = await runAudited(
      auditor,
      {
        request: req,
        eventId: 'deployment-approve',
        meta: { entityRef, deploymentId: id },
        successMeta: d => ({ environment: d.environment, version: d.version }),
      },
      () => approvals.approve({ entityRef, id, credentials }),
    );
    res.json(toApiDeployment(deployment));
  });

  router.post(`${path}/reject`, async (req, res) => {
    const { entityRef, id, credentials } = await target(req);
    const body = readBody(req.body, { reason: 'required' });
    const deployment = await runAudited(
      auditor,
      {
        request: req,
        eventId: 'deployment-reject',
        meta: { entityRef, deploymentId: id, reason: body.reason! },
        successMeta: d => ({ environment: d.environment, version: d.version }),
      },
      () =>
        approvals.reject({ entityRef, id, credentials, reason: body.reason! }),
    );
    res.json(toApiDeployment(deployment));
  });

  return router;
}

/**
 * Takes `bypassApproval` out of a deploy, rollback or promotion body (the
 * rest is for `readBody`): `true` asks to deploy into a protected
 * environment without waiting for approval (see
 * {@link ApprovalService.bypass}); `false` or absent does not; anything
 * else is a 400.
 */
export function splitBypassApproval(body: unknown): {
  rest: unknown;
  bypassApproval: boolean;
} {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return { rest: body, bypassApproval: false };
  }
  const { bypassApproval, ...rest } = body as Record<string, unknown>;
  if (bypassApproval !== undefined && typeof bypassApproval !== 'boolean') {
    throw new InputError('Field "bypassApproval" must be true or false');
  }
  return { rest, bypassApproval: bypassApproval === true };
}

/** The bypass a request asks for, for `DeliveryService` inputs: absent unless asked. */
export function bypassOf(
  bypassApproval: boolean,
  credentials: ApprovalBypass['credentials'],
  request: express.Request,
): { bypassApproval?: ApprovalBypass } {
  return bypassApproval ? { bypassApproval: { credentials, request } } : {};
}

/** A deployment as the API shows it: without the runner's lease bookkeeping. */
function toApiDeployment(d: DeploymentRecord): Deployment {
  const {
    track: _track,
    phase: _phase,
    previousReleaseId: _previous,
    leaseOwner: _owner,
    leaseExpiresAt: _expires,
    attempts: _attempts,
    cleanupAfter: _cleanup,
    ...deployment
  } = d;
  return deployment;
}
