import type { Entity } from '@backstage/catalog-model';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import {
  createDeliveryHarness,
  entityWithManifest,
  uniqueName,
  type DeliveryHarness,
} from '../__testUtils__/deliveryHarness';
import {
  startFaultProxy,
  type Fault,
  type FaultProxy,
} from '../__testUtils__/faultProxy';
import { printFigures } from '../__testUtils__/figures';
import {
  deleteServiceObjects,
  expectServing014AtFirstAttempt,
  FIRST_ATTEMPT_LEASE_MS,
  queueDeploy,
  servingInDev,
  stepOutcomes,
} from '../__testUtils__/faultScenario';
import {
  createSharedDatabase,
  SHARED_DATABASES,
  type SharedDatabase,
} from '../__testUtils__/sharedDatabase';
import { checkoutserviceManifest } from '../__testUtils__/smokeTestManifests';

jest.setTimeout(240_000);

/**
 * The API server throttles (429 with Retry-After), fails (500, 503, 504),
 * drops connections and stops answering while a deployment runs. The backend
 * talks to the devcluster through a fault proxy that injects those answers:
 * the deployment must retry through them, and what the database records must
 * be what happened in the cluster.
 */
describe.each(SHARED_DATABASES)(
  'transient API server errors during deploys (%s)',
  (database, kind) => {
    let cluster: DevCluster;
    let db: SharedDatabase;
    let proxy: FaultProxy;
    let harness: DeliveryHarness;
    const services: string[] = [];

    beforeAll(async () => {
      cluster = await getDevCluster();
      db = await createSharedDatabase(kind);
      proxy = await startFaultProxy(cluster);
      harness = await createDeliveryHarness({
        knex: db.knex,
        cluster: proxy.cluster,
        config: { leaseMs: FIRST_ATTEMPT_LEASE_MS },
      });
    });

    afterAll(async () => {
      await harness?.close();
      await proxy?.close();
      await deleteServiceObjects(cluster, services);
      await db?.destroy();
    });

    function newService() {
      const name = uniqueName('faulty');
      services.push(name);
      return {
        name,
        ...entityWithManifest({
          name,
          manifest: checkoutserviceManifest(name),
        }),
      };
    }

    const deploy = async (entity: Entity, version: string) =>
      harness.settle((await queueDeploy(harness, entity, version)).id, 180_000);

    it('retries through throttling, 5xx answers, dropped connections and a request that never answers; the deployment succeeds and its record matches the cluster', async () => {
      const { name, entity, writeManifest } = newService();
      const first = await deploy(entity, '0.1.3');
      expect(`${first.status}: ${first.message}`).toBe(
        'succeeded: 0.1.3 is serving',
      );

      // Every other request gets the next fault until each has been injected once.
      const planned: Fault[] = [
        { kind: 'status', code: 429, retryAfterSeconds: 1 },
        { kind: 'status', code: 503 },
        { kind: 'status', code: 500 },
        { kind: 'status', code: 504 },
        { kind: 'reset' },
        { kind: 'hang' },
        { kind: 'status', code: 502 },
      ];
      let seen = 0;
      const armedAt = proxy.requests.length;
      proxy.faults = () => (seen++ % 2 === 0 ? planned.shift() : undefined);

      writeManifest(checkoutserviceManifest(name, { paymentTimeout: '7s' }));
      const second = await deploy(entity, '0.1.4');
      proxy.faults = () => undefined;

      const during = proxy.requests.slice(armedAt);
      const faulted = during.filter(r => r.fault);
      // Each faulted request was sent again and answered by the API server.
      const retried = faulted.filter(f =>
        during
          .slice(during.indexOf(f) + 1)
          .some(
            r =>
              !r.fault &&
              r.method === f.method &&
              r.url === f.url &&
              r.status! < 400,
          ),
      );
      printFigures(`transient errors, rolling deploy (${database})`, {
        requests: during.length,
        injected: faulted.length,
        kinds: faulted.map(f => f.fault).join('/'),
        retriedAndAnswered: retried.length,
        outcome: second.status,
      });
      expect(planned).toEqual([]);
      expect(faulted.map(f => f.fault)).toEqual([
        '429',
        '503',
        '500',
        '504',
        'reset',
        'hang',
        '502',
      ]);
      expect(retried).toEqual(faulted);

      // The record: succeeded at the first attempt, every step succeeded.
      // The cluster: exactly 0.1.4's objects, with 0.1.4's configuration.
      await expectServing014AtFirstAttempt(
        harness,
        cluster,
        second,
        name,
        '7s',
      );
    });

    it('records a failure naming the API server answer when the errors outlast the retries, and the cluster keeps the previous release', async () => {
      const { name, entity, writeManifest } = newService();
      const first = await deploy(entity, '0.1.3');
      expect(`${first.status}: ${first.message}`).toBe(
        'succeeded: 0.1.3 is serving',
      );

      // Every write is refused with 503 for as long as the deployment runs.
      const armedAt = proxy.requests.length;
      proxy.faults = ({ method }) =>
        method === 'PATCH' ? { kind: 'status', code: 503 } : undefined;
      writeManifest(checkoutserviceManifest(name, { paymentTimeout: '9s' }));
      const second = await deploy(entity, '0.1.4');
      proxy.faults = () => undefined;

      const during = proxy.requests.slice(armedAt);
      const writes = during.filter(r => r.method === 'PATCH');
      printFigures(
        `transient errors, outage longer than the retries (${database})`,
        {
          requests: during.length,
          refusedWrites: writes.filter(w => w.fault === '503').length,
          forwardedWrites: writes.filter(w => !w.fault).length,
          outcome: second.status,
        },
      );
      // No write reached the API server, and the record says the deploy failed and why.
      expect(writes.length).toBeGreaterThan(1);
      expect(writes.every(w => w.fault === '503')).toBe(true);
      expect(second.status).toBe('failed');
      expect(second.message).toMatch(
        /^The Kubernetes API server of environment "dev" \(namespace "dev"\) at https:\/\/127\.0\.0\.1:\d+ answered 503 .*ServiceUnavailable/,
      );
      expect(stepOutcomes(second)).toEqual(['Dry run:failed']);
      // What the database calls current is what runs: 0.1.3, with its configuration.
      const status = await harness.delivery.status(`component:default/${name}`);
      const dev = status.find(s => s.environment === 'dev')!;
      expect(dev.current?.version).toBe('0.1.3');
      expect(await servingInDev(cluster, name)).toMatchObject({
        image: `example.test/boutique/${name}:0.1.3`,
        paymentTimeout: '5s',
      });
    });
  },
);
