import type {
  CoreV1Event,
  V1Deployment,
  V1Job,
  V1LabelSelector,
  V1Pod,
} from '@kubernetes/client-node';
import type {
  RolloutPod,
  RolloutStatus,
} from '@internal/plugin-kube-delivery-common';

// Defined once, in the API spec: the status API returns them as they are.
export type { RolloutPod, RolloutStatus };

const plural = (n: number, one: string, many: string) =>
  `${n} ${n === 1 ? one : many}`;

/**
 * The rollout status of a Deployment, following `kubectl rollout status`
 * (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go):
 * the controller observed the latest generation, the progress deadline has not
 * passed, all desired replicas are updated, no old replicas remain, and all
 * updated replicas are available.
 */
export function rolloutStatusFrom(
  name: string,
  deployment: V1Deployment | undefined,
  pods: V1Pod[] = [],
  options: {
    /**
     * Epoch ms the spec being waited for was applied (best: the API server's
     * time of the apply, from managedFields). A ProgressDeadlineExceeded
     * condition last written before it, or in the same second, is about the
     * previous rollout: the controller keeps that reason unchanged (same
     * lastUpdateTime) on its first sync of a rollback that has not moved a
     * replica yet, which kubectl would call a failure. A rollback is applied
     * within milliseconds of the failure it answers, often in the same
     * second; the new spec's own deadline cannot pass in the second it was
     * applied.
     */
    appliedAt?: number;
    /** Newest Warning events of the objects involved (see warningEvents). */
    events?: string[];
  } = {},
): RolloutStatus {
  if (!deployment) {
    return {
      exists: false,
      observedGenerationCurrent: false,
      desired: 0,
      updated: 0,
      ready: 0,
      available: 0,
      unavailable: 0,
      progressing: 'Unknown',
      complete: false,
      deadlineExceeded: false,
      message: `Deployment "${name}" does not exist`,
      pods: [],
    };
  }
  const status = deployment.status ?? {};
  const generation = deployment.metadata?.generation ?? 0;
  const observedGenerationCurrent =
    (status.observedGeneration ?? -1) >= generation;
  const desired = deployment.spec?.replicas ?? 1;
  const total = status.replicas ?? 0;
  const updated = status.updatedReplicas ?? 0;
  const ready = status.readyReplicas ?? 0;
  const available = status.availableReplicas ?? 0;
  const unavailable = status.unavailableReplicas ?? 0;
  const condition = status.conditions?.find(c => c.type === 'Progressing');
  const progressing =
    condition?.status === 'True' || condition?.status === 'False'
      ? condition.status
      : 'Unknown';
  // As kubectl does: the condition speaks of the spec only once the
  // controller has observed it (a rollback re-apply leaves a stale one).
  const deadlineExceeded =
    observedGenerationCurrent &&
    condition?.reason === 'ProgressDeadlineExceeded' &&
    !writtenByTheApply(condition.lastUpdateTime, options.appliedAt);

  let complete = false;
  let message: string;
  const fromObjects = rolloutProblems(deployment, pods);
  const problems = [
    ...fromObjects,
    // An event that repeats what an object says already adds nothing.
    ...(options.events ?? []).filter(
      event =>
        !fromObjects.some(problem =>
          problem.includes(event.slice(event.indexOf(': ') + 2)),
        ),
    ),
  ];
  if (!observedGenerationCurrent) {
    message = `Waiting for the Deployment controller to observe the new spec (generation ${generation})`;
  } else if (deadlineExceeded) {
    message = `Deployment "${name}" exceeded its progress deadline: ${available} of ${desired} replicas are available${
      condition?.message ? ` (${condition.message})` : ''
    }`;
  } else if (updated < desired) {
    message = `${updated} of ${desired} new replicas have been updated`;
  } else if (total > updated) {
    message = `${plural(
      total - updated,
      'old replica is',
      'old replicas are',
    )} pending termination`;
  } else if (available < updated) {
    message = `${available} of ${updated} updated replicas are available`;
  } else {
    complete = true;
    message = `Rollout complete: ${available} of ${desired} updated replicas are available`;
  }
  // Why it does not progress, in the message the step and the card show.
  if (!complete && problems.length) {
    message = `${message}. ${problems.join('; ')}`;
  }

  return {
    exists: true,
    observedGenerationCurrent,
    desired,
    updated,
    ready,
    available,
    unavailable,
    progressing,
    progressReason: condition?.reason,
    complete,
    deadlineExceeded,
    message,
    ...(!complete && problems.length ? { problems } : {}),
    pods: pods.map(podSummary).sort((a, b) => a.name.localeCompare(b.name)),
  };
}

/** At most this many lines of problems, each at most MAX_PROBLEM_LENGTH characters. */
const MAX_PROBLEMS = 6;
const MAX_PROBLEM_LENGTH = 300;
/** Waiting reasons of a container that is simply starting. */
const STARTING = new Set(['ContainerCreating', 'PodInitializing']);

const clip = (text: string) =>
  text.length > MAX_PROBLEM_LENGTH
    ? `${text.slice(0, MAX_PROBLEM_LENGTH - 1)}…`
    : text;
const withMessage = (reason?: string, message?: string) =>
  [reason, message?.trim()].filter(Boolean).join(': ');

/**
 * Why a rollout does not progress, as the objects say it: the Deployment's
 * ReplicaFailure condition (the ReplicaSet could not create pods, e.g. a
 * missing ServiceAccount), pods the scheduler cannot place, containers
 * waiting for something other than their start (ImagePullBackOff,
 * CrashLoopBackOff, CreateContainerConfigError) and containers that ended
 * badly (OOMKilled, an exit code). Reasons and names only: the API server
 * never puts a Secret's data in these fields.
 */
export function rolloutProblems(
  deployment: V1Deployment,
  pods: V1Pod[],
): string[] {
  const problems: string[] = [];
  const failure = deployment.status?.conditions?.find(
    c => c.type === 'ReplicaFailure' && c.status === 'True',
  );
  if (failure) problems.push(withMessage(failure.reason, failure.message));
  // The same problem of several pods is said once, with their names.
  const podsWith = new Map<string, string[]>();
  const add = (problem: string, pod: string) =>
    podsWith.set(problem, [...(podsWith.get(problem) ?? []), pod]);
  for (const pod of pods) {
    if (pod.metadata?.deletionTimestamp) continue;
    const name = pod.metadata?.name ?? '';
    const unscheduled = pod.status?.conditions?.find(
      c => c.type === 'PodScheduled' && c.status === 'False',
    );
    if (unscheduled?.reason === 'Unschedulable') {
      add(`cannot be scheduled: ${unscheduled.message ?? ''}`.trim(), name);
    }
    const statuses = [
      ...(pod.status?.initContainerStatuses ?? []),
      ...(pod.status?.containerStatuses ?? []),
    ];
    for (const cs of statuses) {
      const waiting = cs.state?.waiting;
      if (waiting?.reason && !STARTING.has(waiting.reason)) {
        add(
          `container ${cs.name} is waiting: ${withMessage(
            waiting.reason,
            waiting.message,
          )}`,
          name,
        );
      }
      const ended = cs.state?.terminated ?? cs.lastState?.terminated;
      if (ended && (ended.exitCode !== 0 || ended.reason === 'OOMKilled')) {
        add(
          `container ${cs.name} ${
            cs.state?.terminated ? 'terminated' : 'last terminated'
          }: ${ended.reason ?? 'Error'} (exit code ${ended.exitCode})${
            cs.restartCount ? `, restarted ${cs.restartCount} times` : ''
          }`,
          name,
        );
      }
    }
  }
  for (const [problem, names] of podsWith) {
    const who =
      names.length === 1
        ? `Pod ${names[0]}`
        : `${names.length} pods (${names.slice(0, 3).join(', ')}${
            names.length > 3 ? ', …' : ''
          })`;
    problems.push(
      problem.startsWith('cannot') ? `${who} ${problem}` : `${who}: ${problem}`,
    );
  }
  return problems.slice(0, MAX_PROBLEMS).map(clip);
}

/**
 * The newest Warning events of the given objects (by uid), newest first, as
 * `Reason on Kind/name: message`.
 */
export function warningEvents(
  events: CoreV1Event[],
  uids: Set<string | undefined>,
  limit = 3,
): string[] {
  const time = (e: CoreV1Event) =>
    new Date(
      (e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? 0) as
        | string
        | Date,
    ).getTime();
  return events
    .filter(e => e.type === 'Warning' && uids.has(e.involvedObject?.uid))
    .sort((a, b) => time(b) - time(a))
    .slice(0, limit)
    .map(e =>
      clip(
        `${e.reason} on ${e.involvedObject.kind}/${e.involvedObject.name}: ${(
          e.message ?? ''
        ).trim()}`,
      ),
    );
}

/** Kubernetes condition times have whole seconds: compare at that precision. */
function writtenByTheApply(
  time: Date | string | undefined,
  appliedAt: number | undefined,
): boolean {
  if (appliedAt === undefined || time === undefined) return false;
  const written = new Date(time).getTime();
  return written <= Math.floor(appliedAt / 1000) * 1000;
}

function podSummary(pod: V1Pod): RolloutPod {
  const ready =
    pod.status?.conditions?.some(
      c => c.type === 'Ready' && c.status === 'True',
    ) ?? false;
  return {
    name: pod.metadata?.name ?? '',
    node: pod.spec?.nodeName || undefined,
    ready,
    phase: pod.metadata?.deletionTimestamp
      ? 'Terminating'
      : pod.status?.phase ?? 'Unknown',
    ip: pod.status?.podIP || undefined,
  };
}

/** What a Job's conditions say. */
export interface JobOutcome {
  finished: boolean;
  succeeded: boolean;
  message: string;
}

/** Reads the terminal Complete / Failed condition of a Job. */
export function jobOutcome(job: V1Job): JobOutcome {
  const name = job.metadata?.name ?? '';
  const conditions = job.status?.conditions ?? [];
  const isTrue = (type: string) =>
    conditions.find(c => c.type === type && c.status === 'True');
  const counts = `active ${job.status?.active ?? 0}, succeeded ${
    job.status?.succeeded ?? 0
  }, failed ${job.status?.failed ?? 0}`;
  const complete = isTrue('Complete');
  if (complete) {
    return {
      finished: true,
      succeeded: true,
      message: `Job "${name}" succeeded (${counts})`,
    };
  }
  const failed = isTrue('Failed');
  if (failed) {
    const why = [failed.reason, failed.message].filter(Boolean).join(': ');
    return {
      finished: true,
      succeeded: false,
      message: `Job "${name}" failed${why ? ` (${why})` : ''} (${counts})`,
    };
  }
  return {
    finished: false,
    succeeded: false,
    message: `Job "${name}" is running (${counts})`,
  };
}

/** Exit codes and reasons of a Job's failed containers, e.g. `pod x: container smoke exited with code 1 (Error)`. */
export function failedContainers(pods: V1Pod[]): string[] {
  const lines: string[] = [];
  for (const pod of pods) {
    for (const cs of pod.status?.containerStatuses ?? []) {
      const t = cs.state?.terminated ?? cs.lastState?.terminated;
      if (t && t.exitCode !== 0) {
        lines.push(
          `pod ${pod.metadata?.name}: container ${cs.name} exited with code ${
            t.exitCode
          }${t.reason ? ` (${t.reason})` : ''}${
            t.message ? `: ${t.message.trim().slice(0, 500)}` : ''
          }`,
        );
      }
    }
  }
  return lines;
}

/** A label selector as the `labelSelector` query parameter spells it. */
export function labelSelectorString(
  selector: V1LabelSelector | undefined,
): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(selector?.matchLabels ?? {})) {
    parts.push(`${key}=${value}`);
  }
  for (const e of selector?.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    switch (e.operator) {
      case 'In':
        parts.push(`${e.key} in (${values})`);
        break;
      case 'NotIn':
        parts.push(`${e.key} notin (${values})`);
        break;
      case 'Exists':
        parts.push(e.key);
        break;
      case 'DoesNotExist':
        parts.push(`!${e.key}`);
        break;
      default:
        throw new Error(`Unknown label selector operator ${e.operator}`);
    }
  }
  return parts.join(',');
}
