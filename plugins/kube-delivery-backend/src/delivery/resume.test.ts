import type { Entity } from '@backstage/catalog-model';
import type { DeploymentRecord } from '../database';
import {
  createDeliveryHarness,
  entityWithManifest,
  kubectlJson,
  uniqueName,
  type DeliveryHarness,
} from '../__testUtils__/deliveryHarness';
import {
  liveObjectsOf,
  renderedObjects,
  renderStoredRelease,
  waitUntil,
} from '../__testUtils__/releaseObjects';
import { printFigures } from '../__testUtils__/figures';
import { RunnerChild } from '../__testUtils__/runnerChild';
import {
  createSharedDatabase,
  SHARED_DATABASES,
  type SharedDatabase,
} from '../__testUtils__/sharedDatabase';
import { checkoutserviceManifest } from '../__testUtils__/smokeTestManifests';

jest.setTimeout(180_000);

const actor = 'user:default/ada';

/**
 * The backend stopped in the middle of a deploy and started again: the
 * deployment completes (or rolls back), with no orphaned Deployments,
 * Services or ConfigMaps.
 *
 * One backend replica is a child Node process running a DeploymentRunner on a
 * database file (or PostgreSQL database) that this test shares; it is
 * SIGKILLed while a deploy is rolling out. The second replica is an in-process
 * runner started afterwards: once the first one's lease (3 s) expires it
 * claims the deployment again and resumes it.
 *
 * Each case on a SQLite file both processes open and on PostgreSQL.
 */
describe.each(SHARED_DATABASES)(
  'a backend that stops in the middle of a deploy and starts again (%s)',
  (database, kind) => {
    let db: SharedDatabase;
    let harness: DeliveryHarness | undefined;
    let child: RunnerChild | undefined;

    beforeAll(async () => {
      db = await createSharedDatabase(kind);
    });
    afterEach(async () => {
      await RunnerChild.killAll();
      child = undefined;
      await harness?.close();
      harness = undefined;
    });
    afterAll(async () => {
      await RunnerChild.killAll();
      await db?.destroy();
    });

    /** The in-process harness, its runner not started: the child runs the deploys until it is killed. */
    async function setUp() {
      harness = await createDeliveryHarness({ knex: db.knex, runner: false });
      child = await RunnerChild.start({
        database: db.connection,
        runner: harness.config.runner,
      });
      return { harness, child };
    }

    async function queue(h: DeliveryHarness, entity: Entity, version: string) {
      const release = await h.delivery.createRelease({
        entity,
        version,
        createdBy: actor,
      });
      return h.delivery.deploy({
        entity,
        release,
        environment: 'dev',
        kind: 'deploy',
        createdBy: actor,
      });
    }

    /** Polls the database until the deployment satisfies `check`; fails with the child's logs. */
    async function waitForDeployment(
      h: DeliveryHarness,
      id: string,
      check: (d: DeploymentRecord) => boolean,
      what: string,
    ): Promise<DeploymentRecord> {
      let last: DeploymentRecord | undefined;
      await waitUntil(
        async () => {
          last = await h.store.getDeployment(id);
          return check(last);
        },
        {
          timeoutMs: 60_000,
          intervalMs: 25,
          describe: () =>
            `${what}; deployment ${JSON.stringify(
              last,
            )}\nchild runner:\n${child?.logs()}`,
        },
      );
      return last!;
    }

    const stepNames = (d: DeploymentRecord) =>
      d.steps.map(s => `${s.name}:${s.status}`);

    /** The steps after the "Resume" note: what the second runner did. */
    function afterResume(d: DeploymentRecord) {
      const index = d.steps.findIndex(s => s.name === 'Resume');
      return d.steps.slice(index + 1).map(s => `${s.name}:${s.status}`);
    }

    it('rolling: the deploy is resumed after the runner was killed during the rollout', async () => {
      const { harness: h, child: first } = await setUp();
      const name = uniqueName('checkout');
      const entityRef = `component:default/${name}`;
      const { entity, writeManifest } = entityWithManifest({
        name,
        manifest: checkoutserviceManifest(name, { paymentTimeout: '5s' }),
      });

      // The child replica deploys 0.1.3 ...
      const v3 = await queue(h, entity, '0.1.3');
      const done3 = await h.settle(v3.id, 60_000);
      expect(`${done3.status}: ${done3.message}`).toBe(
        'succeeded: 0.1.3 is serving',
      );

      // ... and starts on 0.1.4, whose new pods only count as available after 8 s.
      writeManifest(
        checkoutserviceManifest(name, {
          paymentTimeout: '9s',
          minReadySeconds: 8,
        }),
      );
      const v4 = await queue(h, entity, '0.1.4');
      const inRollout = await waitForDeployment(
        h,
        v4.id,
        d => d.steps.some(s => s.name === 'Rollout'),
        'the child never reached the Rollout step',
      );
      const killed = await first.kill('SIGKILL');
      expect(killed.signal).toBe('SIGKILL');
      const killedAt = Date.now();

      // The kill happened mid-rollout: the job is running, leased by the dead replica.
      const orphaned = await h.store.getDeployment(v4.id);
      expect(orphaned).toMatchObject({
        status: 'running',
        attempts: 1,
        leaseOwner: first.owner,
      });
      expect(stepNames(orphaned)).toEqual([
        'Dry run:succeeded',
        'Apply:succeeded',
        'Rollout:running',
      ]);
      expect(inRollout.leaseOwner).toBe(first.owner);
      const midway = await kubectlJson(h.cluster, [
        '-n',
        'dev',
        'get',
        'deployment',
        name,
      ]);
      expect(midway.spec.template.spec.containers[0].image).toMatch(
        /:0\.1\.4$/,
      );
      // As `kubectl rollout status` decides it: not complete (the new pod is not
      // available before minReadySeconds, or the controller has not seen 0.1.4 yet).
      const { status: rollout } = midway;
      expect(
        (rollout.observedGeneration ?? 0) >= midway.metadata.generation &&
          rollout.updatedReplicas === midway.spec.replicas &&
          rollout.replicas === rollout.updatedReplicas &&
          rollout.availableReplicas === rollout.updatedReplicas,
      ).toBe(false);

      // The backend starts again.
      h.runner.start();
      const done4 = await h.settle(v4.id, 120_000);
      expect(`${done4.status}: ${done4.message}`).toBe(
        'succeeded: 0.1.4 is serving',
      );
      expect(done4.attempts).toBe(2);
      expect(done4.leaseOwner).toBeUndefined();
      const resume = done4.steps.find(s => s.name === 'Resume');
      printFigures(`runner killed during a rolling deploy (${database})`, {
        leaseMs: h.config.runner.leaseMs,
        resumedAfterMs: Date.parse(resume?.startedAt ?? '') - killedAt,
        outcome: `${done4.status} at attempt ${done4.attempts}, ${
          Date.parse(done4.finishedAt ?? '') - killedAt
        } ms after the kill`,
      });
      expect(resume?.message).toMatch(
        /^Attempt 2: resumed after the previous runner stopped during "start"/,
      );
      // The second runner could claim it only once the dead one's lease (3 s) ran out.
      expect(Date.parse(resume!.startedAt)).toBeGreaterThanOrEqual(
        (orphaned.leaseExpiresAt ?? killedAt) - 50,
      );
      expect(afterResume(done4)).toEqual([
        'Dry run:succeeded',
        'Apply:succeeded',
        'Rollout:succeeded',
        'Clean up:succeeded',
      ]);
      // The interrupted step does not stay "running" in a finished deployment.
      expect(done4.steps.filter(s => s.status === 'running')).toEqual([]);
      expect(stepNames(done4).slice(0, 4)).toEqual([
        'Dry run:succeeded',
        'Apply:succeeded',
        'Rollout:failed',
        'Resume:succeeded',
      ]);
      expect(done4.steps[2].message).toMatch(
        /^Interrupted: the runner stopped during this step/,
      );

      // Exactly 0.1.4's objects, nothing orphaned.
      const target = await renderStoredRelease(
        h.store,
        entityRef,
        '0.1.4',
        h.config.environments.find(e => e.name === 'dev')!,
      );
      expect(await liveObjectsOf(h.cluster, name)).toEqual(
        renderedObjects(target),
      );
      expect(renderedObjects(target)).toEqual([
        `ConfigMap/${name}-config`,
        `Deployment/${name}`,
        `Service/${name}`,
      ]);
      const deployment = await kubectlJson(h.cluster, [
        '-n',
        'dev',
        'get',
        'deployment',
        name,
      ]);
      expect(deployment.spec.template.spec.containers[0].image).toBe(
        `example.test/boutique/${name}:0.1.4`,
      );
      expect(deployment.status.availableReplicas).toBe(
        deployment.spec.replicas,
      );
      const config = await kubectlJson(h.cluster, [
        '-n',
        'dev',
        'get',
        'configmap',
        `${name}-config`,
      ]);
      expect(config.data.PAYMENT_TIMEOUT).toBe('9s');

      const history = await h.delivery.listDeployments({
        entityRef,
        limit: 10,
      });
      expect(
        history.items.map(d => `${d.version} ${d.status} ${d.attempts}`),
      ).toEqual(['0.1.4 succeeded 2', '0.1.3 succeeded 1']);
    });

    it('blue-green: the deploy is resumed after the runner was killed once the new release was applied', async () => {
      const { harness: h, child: first } = await setUp();
      const name = uniqueName('checkout');
      const entityRef = `component:default/${name}`;
      const dev = h.config.environments.find(e => e.name === 'dev')!;
      const { entity, writeManifest } = entityWithManifest({
        name,
        manifest: checkoutserviceManifest(name),
        annotations: { 'kube-delivery.io/strategy': 'blue-green' },
      });

      const v3 = await queue(h, entity, '0.1.3');
      const done3 = await h.settle(v3.id, 60_000);
      expect(`${done3.status}: ${done3.message}`).toBe(
        'succeeded: 0.1.3 is serving',
      );
      const blue = await renderStoredRelease(h.store, entityRef, '0.1.3', dev);

      writeManifest(checkoutserviceManifest(name, { minReadySeconds: 8 }));
      const v4 = await queue(h, entity, '0.1.4');
      await waitForDeployment(
        h,
        v4.id,
        d =>
          d.steps.some(
            s => s.name === 'Apply new release' && s.status === 'succeeded',
          ),
        'the child never applied the new release',
      );
      const killed = await first.kill('SIGKILL');
      expect(killed.signal).toBe('SIGKILL');
      const killedAt = Date.now();
      const green = await renderStoredRelease(h.store, entityRef, '0.1.4', dev);

      // Killed between "Apply new release" and the switch: both releases exist,
      // the Service still selects 0.1.3.
      const orphaned = await h.store.getDeployment(v4.id);
      expect(orphaned).toMatchObject({
        status: 'running',
        attempts: 1,
        leaseOwner: first.owner,
      });
      expect(stepNames(orphaned).slice(0, 2)).toEqual([
        'Dry run:succeeded',
        'Apply new release:succeeded',
      ]);
      expect(await liveObjectsOf(h.cluster, name)).toEqual(
        [
          ...new Set([...renderedObjects(blue), ...renderedObjects(green)]),
        ].sort(),
      );
      let service = await kubectlJson(h.cluster, [
        '-n',
        'dev',
        'get',
        'service',
        name,
      ]);
      expect(service.spec.selector).toEqual(blue.podSelector);

      // The backend starts again.
      h.runner.start();
      const done4 = await h.settle(v4.id, 120_000);
      expect(`${done4.status}: ${done4.message}`).toBe(
        'succeeded: 0.1.4 is serving',
      );
      expect(done4.attempts).toBe(2);
      const resume = done4.steps.find(s => s.name === 'Resume');
      printFigures(`runner killed during a blue-green deploy (${database})`, {
        leaseMs: h.config.runner.leaseMs,
        resumedAfterMs: Date.parse(resume?.startedAt ?? '') - killedAt,
        outcome: `${done4.status} at attempt ${done4.attempts}, ${
          Date.parse(done4.finishedAt ?? '') - killedAt
        } ms after the kill`,
      });
      expect(resume?.message).toMatch(
        /^Attempt 2: resumed after the previous runner stopped during "start"/,
      );
      expect(afterResume(done4)).toEqual([
        'Dry run:succeeded',
        'Apply new release:succeeded',
        'Rollout:succeeded',
        'Switch traffic:succeeded',
      ]);
      expect(done4.steps.filter(s => s.status === 'running')).toEqual([]);
      const beforeResume = done4.steps.slice(
        0,
        done4.steps.findIndex(s => s.name === 'Resume'),
      );
      for (const step of beforeResume.filter(s => s.status !== 'succeeded')) {
        expect(`${step.name}:${step.status}: ${step.message}`).toMatch(
          /^Rollout:failed: Interrupted: the runner stopped during this step/,
        );
      }

      // One serving release: the Service selects 0.1.4's pods, all ready.
      service = await kubectlJson(h.cluster, [
        '-n',
        'dev',
        'get',
        'service',
        name,
      ]);
      expect(service.spec.selector).toEqual(green.podSelector);
      const selector = Object.entries(green.podSelector)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      const pods = await kubectlJson(h.cluster, [
        '-n',
        'dev',
        'get',
        'pods',
        '-l',
        selector,
      ]);
      expect(pods.items.length).toBeGreaterThan(0);
      for (const pod of pods.items) {
        expect(pod.spec.containers[0].image).toBe(
          `example.test/boutique/${name}:0.1.4`,
        );
        expect(
          pod.status.conditions.find((c: any) => c.type === 'Ready')?.status,
        ).toBe('True');
      }

      // After the cleanup delay (1 s) the previous release is removed: exactly
      // 0.1.4's Deployment, ConfigMap, Service and preview Service remain.
      await waitUntil(
        async () =>
          JSON.stringify(await liveObjectsOf(h.cluster, name)) ===
          JSON.stringify(renderedObjects(green)),
        {
          timeoutMs: 30_000,
          describe: async () =>
            JSON.stringify(await liveObjectsOf(h.cluster, name)),
        },
      );
      await waitUntil(
        async () =>
          (await h.store.getDeployment(v4.id)).cleanupAfter === undefined,
      );
      expect(await liveObjectsOf(h.cluster, name)).toEqual(
        renderedObjects(green),
      );
      expect((await h.store.getDeployment(v3.id)).cleanupAfter).toBeUndefined();

      const history = await h.delivery.listDeployments({
        entityRef,
        limit: 10,
      });
      expect(
        history.items.map(d => `${d.version} ${d.status} ${d.attempts}`),
      ).toEqual(['0.1.4 succeeded 2', '0.1.3 succeeded 1']);
    });
  },
);
