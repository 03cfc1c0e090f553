import { mockCredentials } from '@backstage/backend-test-utils';
import request from 'supertest';
import { BACKEND_PROCESS_ENTRY } from '../__testUtils__/backendProcess';
import {
  entityWithManifest,
  testDeliveryConfig,
  uniqueName,
} from '../__testUtils__/deliveryHarness';
import {
  deleteServiceObjects,
  servingInDev,
} from '../__testUtils__/faultScenario';
import { printFigures } from '../__testUtils__/figures';
import { waitUntil } from '../__testUtils__/releaseObjects';
import { RunnerChild } from '../__testUtils__/runnerChild';
import {
  createSharedDatabase,
  SHARED_DATABASES,
  type SharedDatabase,
} from '../__testUtils__/sharedDatabase';
import { checkoutserviceManifest } from '../__testUtils__/smokeTestManifests';
import { getDevCluster, type DevCluster } from '@internal/devcluster';

jest.setTimeout(300_000);

/**
 * Two whole backend replicas (the plugin in a backend of its own process:
 * HTTP API, runner, status cache) share one database. A deploy is requested
 * from one; whichever replica runs it is SIGKILLed during the rollout; the
 * other finishes it, and says so over its own API.
 *
 * resume.test.ts kills a bare DeploymentRunner process and resumes in the
 * test process; this is the same failure with everything a replica runs.
 *
 * On one SQLite file that both processes open (WAL, busy_timeout: the claim's
 * compare-and-set decides between two processes), and on PostgreSQL.
 */
describe.each(SHARED_DATABASES)(
  'two backend replicas sharing the database, one killed during a deploy (%s)',
  (database, kind) => {
    let cluster: DevCluster;
    let db: SharedDatabase;
    const name = uniqueName('replicas');

    beforeAll(async () => {
      cluster = await getDevCluster();
      db = await createSharedDatabase(kind);
    });

    afterAll(async () => {
      await RunnerChild.killAll();
      await deleteServiceObjects(cluster, [name]);
      await db?.destroy();
    });

    it('the surviving replica finishes the deployment the killed one was running', async () => {
      const { entity, writeManifest } = entityWithManifest({
        name,
        manifest: checkoutserviceManifest(name),
      });
      const start = () =>
        RunnerChild.start({
          database: db.connection,
          runner: testDeliveryConfig(cluster).runner,
          entry: BACKEND_PROCESS_ENTRY,
          extra: { entities: [entity] },
          timeoutMs: 120_000,
        });
      // One after the other: each runs the migrations.
      const replicas = [await start(), await start()];
      const api = (replica: RunnerChild) => ({
        send: (method: 'get' | 'post', route: string, body?: object) => {
          const req = request(`http://127.0.0.1:${replica.port}`)
            [method](
              `/api/kube-delivery/entities/component/default/${name}${route}`,
            )
            .set('Authorization', mockCredentials.user.header());
          return body ? req.send(body) : req;
        },
      });
      const deploy = async (via: RunnerChild, version: string) => {
        const release = await api(via).send('post', '/releases', { version });
        expect(release.status).toBe(201);
        const queued = await api(via).send('post', '/deployments', {
          environment: 'dev',
          version,
        });
        expect(queued.status).toBe(202);
        return queued.body.id as string;
      };
      const leaseOwner = async (id: string) =>
        (await db.knex('kd_deployments').where({ id }).first()).lease_owner as
          | string
          | null;
      const settle = async (via: RunnerChild, id: string) => {
        let last: any;
        await waitUntil(
          async () => {
            last = (await api(via).send('get', `/deployments/${id}`)).body;
            return !['queued', 'running'].includes(last.status);
          },
          {
            timeoutMs: 120_000,
            intervalMs: 200,
            describe: () => JSON.stringify(last),
          },
        );
        return last;
      };

      const first = await settle(
        replicas[1],
        await deploy(replicas[0], '0.1.3'),
      );
      expect(`${first.status}: ${first.message}`).toBe(
        'succeeded: 0.1.3 is serving',
      );

      // 0.1.4's pods are available only after 8 s: the kill falls in the rollout.
      writeManifest(
        checkoutserviceManifest(name, {
          minReadySeconds: 8,
          paymentTimeout: '9s',
        }),
      );
      const id = await deploy(replicas[1], '0.1.4');
      let owner: string | null = null;
      await waitUntil(
        async () => {
          const steps =
            (await api(replicas[0]).send('get', `/deployments/${id}`)).body
              .steps ?? [];
          owner = await leaseOwner(id);
          return steps.some(
            (s: any) => s.name === 'Rollout' && s.status === 'running',
          );
        },
        { timeoutMs: 60_000, intervalMs: 50 },
      );
      const runningOn = replicas.find(r => owner?.startsWith(r.owner));
      expect(runningOn).toBeDefined();
      const survivor = replicas.find(r => r !== runningOn)!;
      const killedAt = Date.now();
      expect((await runningOn!.kill('SIGKILL')).signal).toBe('SIGKILL');

      const done = await settle(survivor, id);
      const resume = done.steps.find((s: any) => s.name === 'Resume');
      printFigures(`backend replica killed during a deploy (${database})`, {
        killed: `replica ${replicas.indexOf(runningOn!) + 1} (pid ${
          runningOn!.pid
        })`,
        resumedAfterMs: Date.parse(resume?.startedAt) - killedAt,
        outcome: `${done.status} after ${
          Date.parse(done.finishedAt) - killedAt
        } ms from the kill`,
      });
      expect(`${done.status}: ${done.message}`).toBe(
        'succeeded: 0.1.4 is serving',
      );
      expect(await leaseOwner(id)).toBeNull();
      expect(resume?.message).toMatch(
        /^Attempt 2: resumed after the previous runner stopped/,
      );
      expect(done.steps.filter((s: any) => s.status === 'running')).toEqual([]);
      expect(survivor.running).toBe(true);

      // Nothing orphaned: 0.1.4's objects, serving 0.1.4's configuration.
      expect(await servingInDev(cluster, name)).toEqual({
        objects: [
          `ConfigMap/${name}-config`,
          `Deployment/${name}`,
          `Service/${name}`,
        ],
        image: `example.test/boutique/${name}:0.1.4`,
        allAvailable: true,
        paymentTimeout: '9s',
      });
      const history = await api(survivor).send('get', '/deployments');
      expect(
        history.body.items.map((d: any) => `${d.version} ${d.status}`),
      ).toEqual(['0.1.4 succeeded', '0.1.3 succeeded']);
    });
  },
);
