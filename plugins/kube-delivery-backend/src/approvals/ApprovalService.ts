import type {
  AuditorService,
  BackstageCredentials,
  LoggerService,
  PermissionsService,
  SchedulerService,
} from '@backstage/backend-plugin-api';
import {
  ConflictError,
  InputError,
  NotAllowedError,
  NotFoundError,
} from '@backstage/errors';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import {
  kubeDeliveryApprovePermission,
  kubeDeliveryBypassApprovalPermission,
  stringifyTargetRef,
  type DeploymentKind,
} from '@internal/plugin-kube-delivery-common';
import type { Request } from 'express';
import type {
  ApprovalDecision,
  DeliveryStore,
  DeploymentRecord,
  NewDeploymentApproval,
} from '../database';
import { runAudited } from '../http/audited';
import type { DeliveryNotifier } from '../notifications';
import {
  durationWords,
  expirySweepSeconds,
  type ApprovalSettings,
} from './settings';

/** The actor of expiries in the history. */
export const EXPIRY_ACTOR = 'kube-delivery:approval-expiry';

/** The id of the scheduled task that expires lapsed approvals. */
export const APPROVAL_EXPIRY_TASK_ID = 'kube-delivery-approval-expiry';

/** What needs approval in a protected environment: everything but a restart of what already runs there. */
const KINDS_NEEDING_APPROVAL: readonly DeploymentKind[] = [
  'deploy',
  'promote',
  'rollback',
];

const NOUN: Record<DeploymentKind, string> = {
  deploy: 'Deployment',
  promote: 'Promotion',
  rollback: 'Rollback',
  restart: 'Restart',
};

/** A caller's request to deploy at once, without approval. */
export interface ApprovalBypass {
  credentials: BackstageCredentials;
  /** The HTTP request, so the audit event names the caller as the other events do. */
  request?: Request;
}

/** What is requested, for approval messages and events. */
export interface ApprovalRequest {
  entityRef: string;
  environment: string;
  version: string;
  kind: DeploymentKind;
  createdBy: string;
}

/** The user a caller is; approvals and bypasses are people's decisions, never a token's. */
function userOf(credentials: BackstageCredentials, what: string): string {
  const principal = credentials.principal as {
    type: string;
    userEntityRef?: string;
    subject?: string;
  };
  if (principal.type !== 'user' || !principal.userEntityRef) {
    throw new NotAllowedError(
      `Only a signed-in user may ${what}; ${
        principal.type === 'service'
          ? `service principal ${principal.subject}`
          : 'this caller'
      } may not`,
    );
  }
  return principal.userEntityRef;
}

function describe(d: {
  kind: DeploymentKind;
  version: string;
  environment: string;
}) {
  return `${NOUN[d.kind]} of ${d.version} to ${d.environment}`;
}

/**
 * Approvals for protected environments: a deployment, promotion or rollback
 * into one waits (`waiting-approval`) until another user holding
 * `kube-delivery.deployment.approve` on it approves it (it is then queued),
 * or anyone holding it rejects it with a reason, or it expires. The requester
 * never approves their own. `kube-delivery.deployment.bypass-approval`
 * deploys at once, audited as an emergency.
 */
export class ApprovalService {
  constructor(
    private readonly options: {
      store: DeliveryStore;
      permissions: PermissionsService;
      auditor: AuditorService;
      logger: LoggerService;
      settings: ApprovalSettings;
      /** Told when an approved deployment is queued (the runner looks for work). */
      onQueued?: () => void;
      /** Tells the service's owners that a deployment waits for their approval. */
      notifier?: Pick<DeliveryNotifier, 'approvalRequested'>;
      /** Told of each decision, for open tabs (signals). */
      onChange?: (entityRef: string) => void;
    },
  ) {}

  get settings(): ApprovalSettings {
    return this.options.settings;
  }

  /** Whether a deployment of this kind into this environment waits for approval. */
  requiresApproval(
    environment: { protected: boolean },
    kind: DeploymentKind,
  ): boolean {
    return environment.protected && KINDS_NEEDING_APPROVAL.includes(kind);
  }

  /** A new deployment that waits for approval from now until the expiry. */
  waiting(request: ApprovalRequest, now = Date.now()): NewDeploymentApproval {
    const expiresAt = now + this.options.settings.expiryMs;
    const expires = new Date(expiresAt).toISOString();
    return {
      state: 'waiting',
      expiresAt,
      event: {
        kind: 'approval-requested',
        actor: request.createdBy,
        message: `${describe(
          request,
        )} waits for approval by another user holding ${
          kubeDeliveryApprovePermission.name
        } (requested by ${request.createdBy}; expires ${expires})`,
        details: { requestedBy: request.createdBy, expiresAt: expires },
      },
    };
  }

  /**
   * A deployment was stored waiting for approval: its service's owners are
   * told (best effort, in the background).
   */
  requested(deployment: DeploymentRecord): void {
    if (deployment.status !== 'waiting-approval') return;
    this.options.notifier?.approvalRequested(
      deployment,
      deployment.approval?.expiresAt,
    );
  }

  /**
   * Queues a deployment at once as an emergency bypass of the approval: the
   * caller must be a user holding the bypass permission on the target (a
   * 403 otherwise, with nothing queued). Audited with severity high, the
   * refusals too.
   */
  bypass<T>(
    request: ApprovalRequest,
    bypass: ApprovalBypass,
    queue: (approval: NewDeploymentApproval) => Promise<T>,
  ): Promise<T> {
    return runAudited(
      this.options.auditor,
      {
        request: bypass.request as Request,
        eventId: 'deployment-approval-bypass',
        severityLevel: 'high',
        meta: {
          entityRef: request.entityRef,
          environment: request.environment,
          version: request.version,
          kind: request.kind,
          requestedBy: request.createdBy,
          bypassApproval: true,
        },
        successMeta: (result: T) => ({
          deploymentId: (result as { id?: string })?.id ?? null,
        }),
      },
      async () => {
        const actor = userOf(bypass.credentials, 'bypass an approval');
        await this.authorize(
          bypass.credentials,
          kubeDeliveryBypassApprovalPermission,
          request,
          'an emergency bypass is a permission of its own',
        );
        const result = await queue({
          state: 'bypassed',
          by: actor,
          event: {
            kind: 'approval-bypassed',
            actor,
            message: `${describe(
              request,
            )} deployed without approval: emergency bypass by ${actor}`,
            details: { bypassedBy: actor },
          },
        });
        this.options.logger.warn('approval bypassed', {
          entityRef: request.entityRef,
          environment: request.environment,
          version: request.version,
          actor,
        });
        return result;
      },
    );
  }

  /**
   * Approves a deployment waiting for approval: it is queued and runs. The
   * caller must hold the approve permission on it and must not be its
   * requester (separation of duties).
   */
  async approve(input: {
    entityRef: string;
    id: string;
    credentials: BackstageCredentials;
  }): Promise<DeploymentRecord> {
    const actor = userOf(input.credentials, 'approve a deployment');
    const deployment = await this.deploymentToDecide(input);
    if (deployment.createdBy === actor) {
      throw new NotAllowedError(
        `Separation of duties: ${actor} requested this ${NOUN[
          deployment.kind
        ].toLowerCase()} and may not approve it; another user holding ${
          kubeDeliveryApprovePermission.name
        } must (you may reject it)`,
      );
    }
    const now = Date.now();
    await this.assertWaiting(deployment, now);
    const approved = await this.decide(deployment, 'deployment approved', {
      state: 'approved',
      by: actor,
      at: now,
      message: `Approved by ${actor}`,
      event: {
        kind: 'approval-granted',
        actor,
        message: `${describe(deployment)} approved by ${actor} (requested by ${
          deployment.createdBy
        })`,
        details: { requestedBy: deployment.createdBy, approvedBy: actor },
      },
    });
    this.options.onQueued?.();
    return approved;
  }

  /**
   * Rejects a deployment waiting for approval, with a reason: it finishes
   * without running. Anyone holding the approve permission on it may,
   * its requester too.
   */
  async reject(input: {
    entityRef: string;
    id: string;
    credentials: BackstageCredentials;
    reason: string;
  }): Promise<DeploymentRecord> {
    const actor = userOf(input.credentials, 'reject a deployment');
    const reason = input.reason.trim();
    if (!reason) {
      throw new InputError('Give a reason for the rejection');
    }
    const deployment = await this.deploymentToDecide(input);
    const now = Date.now();
    await this.assertWaiting(deployment, now);
    return this.decide(deployment, 'deployment rejected', {
      state: 'rejected',
      by: actor,
      at: now,
      reason,
      message: `Rejected by ${actor}: ${reason}`,
      event: {
        kind: 'approval-rejected',
        actor,
        message: `${describe(deployment)} rejected by ${actor}: ${reason}`,
        details: { requestedBy: deployment.createdBy, reason },
      },
    });
  }

  /**
   * Finishes every deployment whose approval has lapsed as `expired` (of one
   * service's track in an environment, when given); the number expired.
   */
  async expireDue(track?: {
    entityRef: string;
    environment: string;
  }): Promise<number> {
    const { store, logger } = this.options;
    const now = Date.now();
    let expired = 0;
    for (;;) {
      const due = await store.listExpiredApprovals(now, 100, track);
      for (const deployment of due) {
        if (await this.expire(deployment, now)) {
          expired++;
          logger.info('deployment approval expired', {
            deploymentId: deployment.id,
            environment: deployment.environment,
          });
        }
      }
      if (due.length < 100) return expired;
    }
  }

  /** Expires lapsed approvals on a schedule, on one backend replica at a time. */
  async schedule(scheduler: SchedulerService): Promise<void> {
    await scheduler.scheduleTask({
      id: APPROVAL_EXPIRY_TASK_ID,
      frequency: { seconds: expirySweepSeconds(this.options.settings) },
      timeout: { seconds: 60 },
      scope: 'global',
      fn: async () => {
        await this.expireDue();
      },
    });
  }

  private expire(deployment: DeploymentRecord, now: number) {
    const expiresAt = Date.parse(deployment.approval?.expiresAt ?? '');
    const waited = durationWords(
      Number.isNaN(expiresAt)
        ? this.options.settings.expiryMs
        : expiresAt - Date.parse(deployment.createdAt),
    );
    return this.options.store.decideApproval(deployment.id, {
      state: 'expired',
      by: EXPIRY_ACTOR,
      at: now,
      message: `Expired: nobody approved it within ${waited} (requested by ${deployment.createdBy}); request it again`,
      event: {
        kind: 'approval-expired',
        actor: EXPIRY_ACTOR,
        message: `${describe(
          deployment,
        )} expired: nobody approved it within ${waited} (requested by ${
          deployment.createdBy
        })`,
        details: { requestedBy: deployment.createdBy },
      },
    });
  }

  private async deploymentOf(entityRef: string, id: string) {
    const deployment = await this.options.store.getDeployment(id);
    if (deployment.entityRef !== entityRef) {
      throw new NotFoundError(`No deployment ${id} of ${entityRef}`);
    }
    return deployment;
  }

  /** The deployment to approve or reject: a 403 unless the caller holds the approve permission on it. */
  private async deploymentToDecide(input: {
    entityRef: string;
    id: string;
    credentials: BackstageCredentials;
  }) {
    const deployment = await this.deploymentOf(input.entityRef, input.id);
    await this.authorize(
      input.credentials,
      kubeDeliveryApprovePermission,
      deployment,
      `${deployment.environment} is protected: ask your platform team`,
    );
    return deployment;
  }

  /** Records a user's decision and logs it; a 409 when it was decided meanwhile. */
  private async decide(
    deployment: DeploymentRecord,
    log: string,
    decision: ApprovalDecision,
  ): Promise<DeploymentRecord> {
    const decided = await this.options.store.decideApproval(
      deployment.id,
      decision,
    );
    if (!decided) {
      throw this.notWaiting(
        await this.options.store.getDeployment(deployment.id),
      );
    }
    this.options.logger.info(log, {
      deploymentId: deployment.id,
      environment: deployment.environment,
      actor: decision.by,
    });
    this.options.onChange?.(deployment.entityRef);
    return decided;
  }

  /** A 403 naming the permission and the target unless the policy allows it. */
  private async authorize(
    credentials: BackstageCredentials,
    permission:
      | typeof kubeDeliveryApprovePermission
      | typeof kubeDeliveryBypassApprovalPermission,
    target: { environment: string; entityRef: string },
    advice: string,
  ) {
    const resourceRef = stringifyTargetRef(target);
    const [decision] = await this.options.permissions.authorize(
      [{ permission, resourceRef }],
      { credentials },
    );
    if (decision.result !== AuthorizeResult.ALLOW) {
      throw new NotAllowedError(
        `You may not ${permission.name} on ${resourceRef}; ${advice}`,
      );
    }
  }

  /**
   * A 409 unless the deployment still waits for approval; one whose expiry
   * has passed (the task has not run yet) is expired now.
   */
  private async assertWaiting(deployment: DeploymentRecord, now: number) {
    if (deployment.status !== 'waiting-approval') {
      throw this.notWaiting(deployment);
    }
    const expiresAt = Date.parse(deployment.approval?.expiresAt ?? '');
    if (!(expiresAt > now)) {
      await this.expire(deployment, now);
      throw this.notWaiting(
        await this.options.store.getDeployment(deployment.id),
      );
    }
  }

  private notWaiting(deployment: DeploymentRecord) {
    const approval = deployment.approval;
    const decided =
      approval?.decidedBy && approval.decidedAt
        ? ` (${approval.state} by ${approval.decidedBy} at ${approval.decidedAt})`
        : '';
    const what = `${describe(deployment)} (${deployment.id})`;
    if (!approval) {
      return new ConflictError(
        `${what} needed no approval; it is ${deployment.status}`,
      );
    }
    return new ConflictError(
      deployment.status === 'expired'
        ? `${what} expired${
            approval.decidedAt ? ` at ${approval.decidedAt}` : ''
          }: nobody approved it in time; request it again`
        : `${what} no longer waits for approval: it is ${deployment.status}${decided}`,
    );
  }
}
