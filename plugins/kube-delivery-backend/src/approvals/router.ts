import type { AuditorService } from '@backstage/backend-plugin-api';
import type express from 'express';
import { toApiDeployment } from '../delivery/apiViews';
import type { ApiRouter } from '../http/apiRouter';
import { runAudited } from '../http/audited';
import type { EntityGates } from '../http/entityGates';
import type { ApprovalBypass, ApprovalService } from './ApprovalService';

const path = '/entities/:kind/:namespace/:name/deployments/:id';

/**
 * `POST …/deployments/{id}/approve` and `POST …/deployments/{id}/reject`
 * (`{ reason }`) of a deployment waiting for approval. Users only (a
 * service principal is a 403): the entity must be visible to the caller in
 * the catalog (404 otherwise), and the caller must hold
 * `kube-delivery.deployment.approve` on the target
 * `<environment>:<entity ref>`. Each is an auditor event.
 */
export function addApprovalRoutes(
  router: ApiRouter,
  options: {
    gates: EntityGates;
    auditor: AuditorService;
    approvals: ApprovalService;
  },
): void {
  const { gates, auditor, approvals } = options;

  router.post(`${path}/approve`, async (req, res) => {
    const { entityRef, credentials } = await gates.entityInPath(req, ['user']);
    const { id } = req.params;
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
    const { entityRef, credentials } = await gates.entityInPath(req, ['user']);
    const { id } = req.params;
    const { reason } = req.body;
    const deployment = await runAudited(
      auditor,
      {
        request: req,
        eventId: 'deployment-reject',
        meta: { entityRef, deploymentId: id, reason },
        successMeta: d => ({ environment: d.environment, version: d.version }),
      },
      () => approvals.reject({ entityRef, id, credentials, reason }),
    );
    res.json(toApiDeployment(deployment));
  });
}

/** The bypass a request asks for, for `DeliveryService` inputs: absent unless asked. */
export function bypassOf(
  bypassApproval: boolean,
  credentials: ApprovalBypass['credentials'],
  request: express.Request,
): { bypassApproval?: ApprovalBypass } {
  return bypassApproval ? { bypassApproval: { credentials, request } } : {};
}
