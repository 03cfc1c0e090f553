import type { KubernetesObject } from '@kubernetes/client-node';
import { describeChanges } from '../../cluster';
import type { RenderedRelease } from '../../manifests';
import { LeaseLostError } from '../DeploymentJob';
import {
  applyObjects,
  bringUp,
  jobPruner,
  pruneTrack,
  waitForRollout,
  workloadObjects,
} from './steps';
import type { Strategy, StrategyContext, StrategyOutcome } from './types';

const objectsOf = (rendered: RenderedRelease): KubernetesObject[] => [
  ...workloadObjects(rendered),
  ...(rendered.service ? [rendered.service as KubernetesObject] : []),
];

/**
 * Rolling (maxUnavailable 0) and recreate: the Deployment is updated in place
 * and the Deployment controller replaces the pods. A failed rollout or smoke
 * test re-applies the previous release, configuration included.
 */
export const inPlaceStrategy: Strategy = {
  async deploy(context) {
    const { job, cluster, target } = context;
    const objects = objectsOf(target.rendered);
    await job.step('Dry run', async progress => {
      await cluster.dryRun(objects);
      await progress(`${objects.length} objects accepted by the API server`);
    });
    try {
      await bringUp(job, cluster, target.rendered, objects, 'Apply');
      await job.step('Clean up', async progress => {
        const changes = await job.fenced(() =>
          pruneTrack(jobPruner(job), cluster, [target.rendered]),
        );
        await progress(
          changes.length ? describeChanges(changes) : 'Nothing left over',
        );
      });
      return {
        status: 'succeeded',
        message: `${target.version} is serving`,
      };
    } catch (error) {
      if (error instanceof LeaseLostError) throw error;
      return rollBack(context, (error as Error).message);
    }
  },

  resumeRollback: (context, reason) => rollBack(context, reason),
};

async function rollBack(
  context: StrategyContext,
  reason: string,
): Promise<StrategyOutcome> {
  const { job, cluster, previous } = context;
  if (!previous) {
    return {
      status: 'failed',
      message: `${reason}. There is no earlier release on this track to roll back to.`,
    };
  }
  await job.update({ phase: 'rollback', message: reason });
  try {
    await job.step(`Roll back to ${previous.version}`, async progress => {
      await applyObjects(job, cluster, objectsOf(previous.rendered));
      await waitForRollout(job, cluster, previous.rendered, progress);
      await job.fenced(() =>
        pruneTrack(jobPruner(job), cluster, [previous.rendered]),
      );
    });
  } catch (error) {
    if (error instanceof LeaseLostError) throw error;
    return {
      status: 'failed',
      message: `${reason}. Rolling back to ${previous.version} failed too: ${
        (error as Error).message
      }`,
    };
  }
  return {
    status: 'rolled-back',
    message: `${reason}. Rolled back automatically: ${previous.version} is serving again.`,
  };
}
