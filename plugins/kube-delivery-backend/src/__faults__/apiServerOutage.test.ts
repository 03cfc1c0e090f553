import type { Entity } from '@backstage/catalog-model';
import {
  startDevCluster,
  startDevClusterComponent,
  stopDevCluster,
  stopDevClusterComponent,
  type DevCluster,
} from '@internal/devcluster';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DeploymentRecord } from '../database';
import {
  createDeliveryHarness,
  entityWithManifest,
  uniqueName,
  type DeliveryHarness,
} from '../__testUtils__/deliveryHarness';
import { printFigures } from '../__testUtils__/figures';
import {
  expectServing014AtFirstAttempt,
  FIRST_ATTEMPT_LEASE_MS,
  queueDeploy,
  renderedInDev,
  stepOutcomes,
} from '../__testUtils__/faultScenario';
import { liveObjectsOf, waitUntil } from '../__testUtils__/releaseObjects';
import {
  createSharedDatabase,
  SHARED_DATABASES,
  type SharedDatabase,
} from '../__testUtils__/sharedDatabase';
import { checkoutserviceManifest } from '../__testUtils__/smokeTestManifests';

jest.setTimeout(300_000);

const APISERVER = 'kube-apiserver';

/**
 * The API server stops in the middle of a deploy and starts again. The other
 * tests share the devcluster, so this file starts a private one of its own
 * (DEVCLUSTER_STATE_DIR, cached binaries) and stops and starts that one's
 * kube-apiserver process; etcd, the controllers and kwok keep running.
 *
 * One private cluster for the file; each case runs once on a SQLite file and
 * once on PostgreSQL (the outage itself does not depend on the database, but
 * what the runner records through it does).
 */
describe('the API server stopped during a deploy and started again', () => {
  const savedStateDir = process.env.DEVCLUSTER_STATE_DIR;
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-outage-cluster-'));
  let cluster: DevCluster;

  beforeAll(async () => {
    process.env.DEVCLUSTER_STATE_DIR = stateDir;
    const started = Date.now();
    cluster = await startDevCluster();
    printFigures('API server outage, private devcluster', {
      startSeconds: ((Date.now() - started) / 1000).toFixed(1),
    });
  });

  afterAll(async () => {
    // Removes the private cluster's processes and state, nothing of the
    // shared one: only while the state directory is this file's own.
    if (process.env.DEVCLUSTER_STATE_DIR === stateDir) await stopDevCluster();
    if (savedStateDir === undefined) delete process.env.DEVCLUSTER_STATE_DIR;
    else process.env.DEVCLUSTER_STATE_DIR = savedStateDir;
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  describe.each(SHARED_DATABASES)('on a %s', (database, kind) => {
    let db: SharedDatabase;
    let harness: DeliveryHarness;

    beforeAll(async () => {
      db = await createSharedDatabase(kind);
      harness = await createDeliveryHarness({
        knex: db.knex,
        cluster,
        config: { leaseMs: FIRST_ATTEMPT_LEASE_MS },
      });
    });

    afterAll(async () => {
      await harness?.close();
      await db?.destroy();
    });

    const queue = (entity: Entity, version: string) =>
      queueDeploy(harness, entity, version);
    const steps = stepOutcomes;

    /** Stops the API server, waits `downMs`, starts it again; returns how long it was gone. */
    async function outage(downMs: number) {
      const stoppedAt = Date.now();
      await stopDevClusterComponent(APISERVER);
      await new Promise(resolve => setTimeout(resolve, downMs));
      await startDevClusterComponent(APISERVER);
      return Date.now() - stoppedAt;
    }

    it('rolling: the deployment completes once the API server is back, with exactly the new release in the cluster', async () => {
      const name = uniqueName('outage');
      const { entity, writeManifest } = entityWithManifest({
        name,
        manifest: checkoutserviceManifest(name),
      });
      const v3 = await harness.settle(
        (
          await queue(entity, '0.1.3')
        ).id,
        90_000,
      );
      expect(`${v3.status}: ${v3.message}`).toBe('succeeded: 0.1.3 is serving');

      // 0.1.4's pods count as available only after 8 s: the outage falls in the rollout.
      writeManifest(
        checkoutserviceManifest(name, {
          minReadySeconds: 8,
          paymentTimeout: '9s',
        }),
      );
      const queued = await queue(entity, '0.1.4');
      await waitUntil(
        async () =>
          (
            await harness.store.getDeployment(queued.id)
          ).steps.some(s => s.name === 'Rollout' && s.status === 'running'),
        { timeoutMs: 60_000, intervalMs: 25 },
      );
      const downMs = await outage(5000);
      const mid = await harness.store.getDeployment(queued.id);
      const done = await harness.settle(queued.id, 180_000);
      printFigures(`API server outage during the rollout (${database})`, {
        apiServerGoneMs: downMs,
        stepsWhenBack: steps(mid).join(' '),
        outcome: `${done.status} after ${
          Date.parse(done.finishedAt!) - Date.parse(done.startedAt!)
        } ms: ${done.message}`,
        ...(done.status === 'succeeded'
          ? {}
          : {
              failedSteps: JSON.stringify(
                done.steps.filter(s => s.status === 'failed'),
              ),
            }),
      });

      // Still running when the API server came back; then it completed, first attempt.
      expect(mid.status).toBe('running');
      // Nothing orphaned: exactly 0.1.4's objects, serving 0.1.4's configuration.
      await expectServing014AtFirstAttempt(harness, cluster, done, name, '9s');
    });

    it('a deploy that starts while the API server is gone fails before writing anything, says the cluster is unreachable, and a redeploy after it is back completes', async () => {
      const name = uniqueName('outage');
      const entityRef = `component:default/${name}`;
      const { entity } = entityWithManifest({
        name,
        manifest: checkoutserviceManifest(name),
      });
      await stopDevClusterComponent(APISERVER);
      let failed: DeploymentRecord;
      try {
        failed = await harness.settle(
          (
            await queue(entity, '0.1.3')
          ).id,
          90_000,
        );
      } finally {
        await startDevClusterComponent(APISERVER);
      }
      expect(failed.status).toBe('failed');
      expect(failed.message).toMatch(
        /^Cannot reach the Kubernetes API server of environment "dev" \(namespace "dev"\) at https:\/\/127\.0\.0\.1:\d+ while trying to/,
      );
      expect(steps(failed)).toEqual(['Dry run:failed']);
      expect(await liveObjectsOf(cluster, name)).toEqual([]);

      // The release was created before the outage showed; deploy it again.
      const again = await harness.settle(
        (
          await harness.delivery.deploy({
            entity,
            release: (await harness.store.findRelease(entityRef, '0.1.3'))!,
            environment: 'dev',
            kind: 'deploy',
            createdBy: 'user:default/ada',
          })
        ).id,
        90_000,
      );
      printFigures(`API server gone when a deploy starts (${database})`, {
        firstOutcome: `${failed.status}: ${failed.message!.slice(0, 60)}...`,
        redeploy: again.status,
      });
      expect(`${again.status}: ${again.message}`).toBe(
        'succeeded: 0.1.3 is serving',
      );
      expect(await liveObjectsOf(cluster, name)).toEqual(
        await renderedInDev(harness, entityRef, '0.1.3'),
      );
    });
  });
});
