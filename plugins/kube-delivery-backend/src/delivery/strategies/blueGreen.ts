import type { KubernetesObject } from '@kubernetes/client-node';
import { describeChanges } from '../../cluster';
import type { RenderedRelease } from '../../manifests';
import { LeaseLostError } from '../DeploymentJob';
import { applyObjects, bringUp, deleteObjects, workloadObjects } from './steps';
import type { Strategy, StrategyContext, StrategyOutcome } from './types';

/** The new release's own objects: uniquely named, so the old release is untouched. */
const newReleaseObjects = (rendered: RenderedRelease): KubernetesObject[] => [
  ...workloadObjects(rendered),
  ...(rendered.previewService
    ? [rendered.previewService as KubernetesObject]
    : []),
];

/**
 * Blue-green: the release gets its own Deployment, ConfigMaps and Secrets; the
 * Service selector switches to it only after every new pod is ready and the
 * smoke test passed. Until then the old release serves all traffic, so a
 * failure only removes the new objects. The old release is removed later by
 * the cleanup task, after the configured delay.
 */
export const blueGreenStrategy: Strategy = {
  async deploy(context) {
    const { job, cluster, target } = context;
    const created = newReleaseObjects(target.rendered);
    const service = target.rendered.service as KubernetesObject | undefined;
    await job.step('Dry run', async progress => {
      await cluster.dryRun(service ? [...created, service] : created);
      await progress('Objects accepted by the API server');
    });
    try {
      await bringUp(
        job,
        cluster,
        target.rendered,
        created,
        'Apply new release',
      );
    } catch (error) {
      if (error instanceof LeaseLostError) throw error;
      return removeNewRelease(context, (error as Error).message);
    }
    if (service) {
      await job.step('Switch traffic', async progress => {
        await job.update({ phase: 'switch' });
        await progress(
          await applyObjects(
            job,
            cluster,
            [service],
            `Service ${target.rendered.serviceName} now selects ${target.rendered.workloadName}`,
            'switch',
          ),
        );
      });
    }
    return {
      status: 'succeeded',
      message: `${target.version} is serving`,
      cleanupAfter: Date.now() + context.blueGreenCleanupDelayMs,
    };
  },

  resumeRollback: (context, reason) => removeNewRelease(context, reason),
};

async function removeNewRelease(
  context: StrategyContext,
  reason: string,
): Promise<StrategyOutcome> {
  const { job, cluster, target, previous } = context;
  await job.update({ phase: 'rollback', message: reason });
  // The live Service still selects the previous release: removing the new
  // objects is all it takes. Never remove what the previous release uses.
  const previousNames = new Set(
    previous
      ? newReleaseObjects(previous.rendered).map(
          o => `${o.kind}/${o.metadata?.name}`,
        )
      : [],
  );
  // The service's account is shared with its other tracks: never removed here.
  const removable = newReleaseObjects(target.rendered).filter(
    o =>
      o.kind !== 'ServiceAccount' &&
      !previousNames.has(`${o.kind}/${o.metadata?.name}`),
  );
  await job.step('Remove new release', async progress => {
    const changes = await deleteObjects(job, cluster, removable);
    await progress(`${describeChanges(changes)}; traffic never switched`);
  });
  return {
    status: 'failed',
    message: `${reason}. Traffic never switched${
      previous ? `: ${previous.version} is still serving` : ''
    }.`,
  };
}
