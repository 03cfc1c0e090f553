import type { ApprovalEventKind } from '@internal/plugin-kube-delivery-common';
import { uuidv7 } from '../health/HealthStore';
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
 * An approval event as a row of the environment timeline
 * (`kd_environment_events`), where the Release history and the
 * environment's history read it.
 */
export function approvalEventRow(
  deployment: DeploymentRecord,
  event: ApprovalEventInput,
  now: number,
) {
  return {
    id: uuidv7(now),
    environment: deployment.environment,
    kind: event.kind,
    entity_ref: deployment.entityRef,
    message: event.message,
    details: JSON.stringify({
      deploymentId: deployment.id,
      version: deployment.version,
      deploymentKind: deployment.kind,
      ...event.details,
    }),
    actor: event.actor,
    created_at: now,
  };
}
