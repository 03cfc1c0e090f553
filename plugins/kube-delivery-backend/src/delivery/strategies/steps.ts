import type { KubernetesObject } from '@kubernetes/client-node';
import {
  deleteChange,
  describeChanges,
  type Change,
  type EnvironmentCluster,
  type RolloutStatus,
} from '../../cluster';
import {
  LABEL_ENVIRONMENT,
  LABEL_NAME,
  LABEL_TRACK,
  type RenderedRelease,
} from '../../manifests';
import type { Fence } from '../../cluster/fence';
import type { DeploymentJob, WritePoint } from '../DeploymentJob';
import { deleteOrder, LABEL_OWNER } from '../../cluster/managedObjects';

/** A rollout or smoke test that did not succeed; the strategy decides what follows. */
class DeploymentCheckFailed extends Error {}

/** A job's prune: under its lease, fenced by its epoch, stopping at the `prune` write point. */
export function jobPruner(job: DeploymentJob): Pruner {
  return {
    fence: job.fence,
    beforeWrite: async () => {
      await job.assertLease();
      await job.writePoint('prune');
    },
  };
}

/** The kinds whose objects of older releases are pruned, in delete order. */
const PRUNED_KINDS = deleteOrder(kind => kind.pruned);

/** The account and configuration first, so new pods start with them; then the workload. */
export function workloadObjects(rendered: RenderedRelease): KubernetesObject[] {
  return [
    rendered.serviceAccount,
    ...rendered.configMaps,
    ...rendered.secrets,
    rendered.deployment,
    ...(rendered.podDisruptionBudget ? [rendered.podDisruptionBudget] : []),
  ] as KubernetesObject[];
}

/** Every object of a rendered release, in the order they are applied. */
export function releaseObjects(rendered: RenderedRelease): KubernetesObject[] {
  return [
    ...workloadObjects(rendered),
    ...(rendered.previewService ? [rendered.previewService] : []),
    ...(rendered.service ? [rendered.service] : []),
  ] as KubernetesObject[];
}

function rolloutTimeoutMs(rendered: RenderedRelease) {
  const deadline = rendered.deployment.spec?.progressDeadlineSeconds ?? 120;
  // The Deployment controller reports ProgressDeadlineExceeded itself; the
  // margin covers its resync and a briefly unreachable API server.
  return (deadline + 60) * 1000;
}

/**
 * Applies the objects under the job's lease, fenced by its epoch; says what
 * the apply did to each (its change set) or, given one, the summary and,
 * when the apply put back fields someone else had changed, whose change it
 * was.
 */
export async function applyObjects(
  job: DeploymentJob,
  cluster: EnvironmentCluster,
  objects: KubernetesObject[],
  summary?: string,
  point: WritePoint = 'apply',
): Promise<string> {
  await job.assertLease();
  await job.writePoint(point);
  const drift: string[] = [];
  const { changes } = await job.fenced(() =>
    cluster.apply(objects, {
      fence: job.fence,
      onOverwritten: ({ kind, name, managers }) =>
        drift.push(`${kind}/${name} (changed by ${managers.join(', ')})`),
    }),
  );
  const said = summary ?? describeChanges(changes);
  return drift.length
    ? `${said}; put back as released what others had changed: ${drift.join(
        '; ',
      )}`
    : said;
}

export async function waitForRollout(
  job: DeploymentJob,
  cluster: EnvironmentCluster,
  rendered: RenderedRelease,
  progress: (message: string) => Promise<void>,
): Promise<RolloutStatus> {
  const status = await cluster.waitForRollout(rendered.workloadName, {
    timeoutMs: rolloutTimeoutMs(rendered),
    signal: job.abort.signal,
    onProgress: s => {
      progress(s.message).catch(() => {});
    },
  });
  await progress(status.message);
  if (!status.complete) {
    throw new DeploymentCheckFailed(
      status.deadlineExceeded
        ? `Rollout of ${rendered.workloadName} exceeded its progress deadline: ${status.message}`
        : `Rollout of ${rendered.workloadName} did not complete: ${status.message}`,
    );
  }
  return status;
}

async function runSmokeTest(
  job: DeploymentJob,
  cluster: EnvironmentCluster,
  rendered: RenderedRelease,
) {
  const smokeTest = rendered.smokeTest!;
  await job.assertLease();
  const result = await job.fenced(() =>
    cluster.runJob(smokeTest, {
      timeoutMs: ((smokeTest.spec?.activeDeadlineSeconds ?? 300) + 60) * 1000,
      signal: job.abort.signal,
      fence: job.fence,
    }),
  );
  if (!result.succeeded) {
    throw new DeploymentCheckFailed(
      `Smoke test ${smokeTest.metadata?.name} failed: ${result.message}`,
    );
  }
  return result.message;
}

/**
 * The steps that bring a release up: apply its objects (step `applyStep`),
 * wait for its rollout, then run its smoke test if it has one. A failed
 * rollout or smoke test is a DeploymentCheckFailed.
 */
export async function bringUp(
  job: DeploymentJob,
  cluster: EnvironmentCluster,
  rendered: RenderedRelease,
  objects: KubernetesObject[],
  applyStep: string,
) {
  await job.step(applyStep, async progress => {
    await progress(await applyObjects(job, cluster, objects));
  });
  await job.step('Rollout', progress =>
    waitForRollout(job, cluster, rendered, progress),
  );
  if (rendered.smokeTest) {
    await job.step('Smoke test', async progress => {
      await progress(await runSmokeTest(job, cluster, rendered));
    });
  }
}

/** Who prunes: the fence of its writes, and what runs right before each. */
export interface Pruner {
  fence: Fence;
  beforeWrite(): Promise<void>;
}

/**
 * Removes the objects of this service's track that the given releases do not
 * use: what an earlier release left behind (a renamed ConfigMap, an old
 * blue-green Deployment). Returns what it did to each: deleted, or skipped
 * when it was gone by the time of its delete (another replica pruned it).
 *
 * Each delete is fenced: the object is read again and deleted only if no
 * epoch newer than the pruner's wrote it (it belongs to the release kept or
 * an older one), with uid and resourceVersion preconditions from that read,
 * and only if it is still the object listed (same uid). A newer release's
 * object, or one re-created or re-written by a newer writer after the list,
 * is never removed: FencedError.
 */
export async function pruneTrack(
  pruner: Pruner,
  cluster: EnvironmentCluster,
  keep: RenderedRelease[],
): Promise<Change[]> {
  const reference = keep[0];
  const labels = reference.deployment.metadata?.labels ?? {};
  // The owner label too: a prune never touches another entity's objects,
  // even one that carries this service's name and track.
  const selector = [LABEL_NAME, LABEL_TRACK, LABEL_ENVIRONMENT, LABEL_OWNER]
    .map(key => `${key}=${labels[key]}`)
    .join(',');
  const kept = new Set<string>();
  for (const rendered of keep) {
    for (const o of releaseObjects(rendered))
      kept.add(`${o.kind}/${o.metadata?.name}`);
  }
  const changes: Change[] = [];
  for (const { apiVersion, kind } of PRUNED_KINDS) {
    const live = await cluster.list<KubernetesObject>(
      apiVersion,
      kind,
      selector,
    );
    for (const object of live) {
      const name = object.metadata!.name!;
      if (kept.has(`${kind}/${name}`)) continue;
      await pruner.beforeWrite();
      const existed = await cluster.delete(apiVersion, kind, name, {
        owner: labels[LABEL_OWNER],
        fence: pruner.fence,
        expectUid: object.metadata?.uid,
      });
      changes.push(deleteChange(kind, name, existed));
    }
  }
  return changes;
}

/**
 * Deletes the objects in reverse order under the job's lease, fenced by its
 * epoch; returns what it did to each (deleted, or skipped when not found).
 */
export async function deleteObjects(
  job: DeploymentJob,
  cluster: EnvironmentCluster,
  objects: KubernetesObject[],
): Promise<Change[]> {
  const changes: Change[] = [];
  for (const object of [...objects].reverse()) {
    const { apiVersion, kind } = object;
    const name = object.metadata!.name!;
    await job.assertLease();
    const existed = await job.fenced(() =>
      cluster.delete(apiVersion!, kind!, name, {
        owner: object.metadata?.labels?.[LABEL_OWNER],
        fence: job.fence,
      }),
    );
    changes.push(deleteChange(kind!, name, existed));
  }
  return changes;
}
