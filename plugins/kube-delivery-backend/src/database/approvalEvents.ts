import type { ApprovalEventKind } from '@internal/plugin-kube-delivery-common';
import { eventRow, type EventRow } from '../events';
import type { DeploymentRecord } from './DeliveryStore';

/** What happened to a deployment's approval, for the history. */
export interface ApprovalEventInput {
  kind: ApprovalEventKind;
  /** One line, for people. */
  message: string;
  /** Who did it: the requester, the approver, the expiry task. */
  actor: string;
  /** More particulars; the deployment's id, version and kind are added. */
  details?: Record<string, unknown>;
}

/**
 * An approval event as a row of the environment timeline, inserted in the
 * transaction of the decision; the Release history and the environment's
 * timeline read it.
 */
export function approvalEventRow(
  deployment: DeploymentRecord,
  event: ApprovalEventInput,
  now: number,
): EventRow {
  return eventRow(
    {
      environment: deployment.environment,
      kind: event.kind,
      entityRef: deployment.entityRef,
      message: event.message,
      details: {
        deploymentId: deployment.id,
        version: deployment.version,
        deploymentKind: deployment.kind,
        ...event.details,
      },
      actor: event.actor,
    },
    now,
  );
}
