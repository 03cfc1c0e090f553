import { mockServices } from '@backstage/backend-test-utils';
import { ConflictError } from '@backstage/errors';
import type { Knex } from 'knex';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import {
  adserviceManifest,
  frontendManifest,
} from '../__testUtils__/boutiqueManifests';
import {
  createDeliveryHarness,
  entityWithManifest,
  kubectlJson,
  uniqueName,
  type DeliveryHarness,
} from '../__testUtils__/deliveryHarness';
import { watchServiceTraffic } from '../__testUtils__/serviceWatch';
import { ANNOTATION_EPOCH } from '../cluster/fence';
import { ClusterClients } from '../cluster/ClusterClients';
import { renderStoredRelease } from '../__testUtils__/releaseObjects';
import { pruneTrack } from './strategies/steps';

jest.setTimeout(180_000);

/** Blue-green switches watched in one run. */
const SWITCHES = 20;

const actor = 'user:default/ada';

describe('delivery on the local control plane', () => {
  const databases = createTestDatabases();
  let knex: Knex;
  let harness: DeliveryHarness;

  beforeAll(async () => {
    knex = await databases.init('SQLITE_3');
    harness = await createDeliveryHarness({ knex });
  });
  afterAll(async () => {
    await harness?.close();
  });

  async function release(entity: any, version: string) {
    return harness.delivery.createRelease({ entity, version, createdBy: actor });
  }
  async function deployAndSettle(entity: any, version: string, environment = 'dev') {
    const rel =
      (await harness.store.findRelease(`component:default/${entity.metadata.name}`, version)) ??
      (await release(entity, version));
    const queued = await harness.delivery.deploy({
      entity,
      release: rel,
      environment,
      kind: 'deploy',
      createdBy: actor,
    });
    return harness.settle(queued.id);
  }
  const get = (args: string[]) => kubectlJson(harness.cluster, args);
  const devEnvironment = () => harness.config.environments.find(e => e.name === 'dev')!;

  it('rolls out the adservice shape with HA settings and rolls a new version in place', async () => {
    const name = uniqueName('adservice');
    const { entity } = entityWithManifest({
      name,
      manifest: adserviceManifest(name),
      annotations: { 'kube-delivery.io/replicas': '2' },
    });
    const first = await deployAndSettle(entity, '0.1.3');
    expect(first.status).toBe('succeeded');
    expect(first.steps.map(s => s.name)).toEqual(['Dry run', 'Apply', 'Rollout', 'Clean up']);

    const deployment = await get(['-n', 'dev', 'get', 'deployment', name]);
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(
      deployment.spec.template.spec.affinity.podAntiAffinity
        .preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.topologyKey,
    ).toBe('kubernetes.io/hostname');
    expect(deployment.spec.template.spec.containers[0].image).toBe(
      `example.test/boutique/${name}:0.1.3`,
    );
    expect(deployment.metadata.labels['backstage.io/kubernetes-id']).toBe(name);
    const pdb = await get(['-n', 'dev', 'get', 'pdb', name]);
    expect(pdb.spec.maxUnavailable ?? pdb.spec.minAvailable).toBeDefined();
    const pods = await get(['-n', 'dev', 'get', 'pods', '-l', `app.kubernetes.io/name=${name}`]);
    const nodes = new Set(pods.items.map((p: any) => p.spec.nodeName));
    expect(nodes.size).toBe(2);

    const second = await deployAndSettle(entity, '0.1.4');
    expect(second.status).toBe('succeeded');
    const updated = await get(['-n', 'dev', 'get', 'deployment', name]);
    expect(updated.spec.template.spec.containers[0].image).toBe(
      `example.test/boutique/${name}:0.1.4`,
    );
  });

  it('says what its prune did: the Clean up step lists what it deleted, and one gone already is skipped', async () => {
    const name = uniqueName('adservice');
    const entityRef = `component:default/${name}`;
    const manifest = adserviceManifest(name);
    const two = entityWithManifest({
      name,
      manifest,
      annotations: { 'kube-delivery.io/replicas': '2' },
    });
    expect((await deployAndSettle(two.entity, '0.1.3')).status).toBe('succeeded');
    await get(['-n', 'dev', 'get', 'pdb', name]);
    // One replica needs no PodDisruptionBudget: the release after it has none.
    const one = entityWithManifest({ name, manifest });
    const second = await deployAndSettle(one.entity, '0.1.4');
    expect(second.status).toBe('succeeded');
    expect(second.steps.find(s => s.name === 'Clean up')?.message).toBe(
      `deleted PodDisruptionBudget/${name}`,
    );
    const pdbs = await get(['-n', 'dev', 'get', 'pdb', '-l', `app.kubernetes.io/name=${name}`]);
    expect(pdbs.items).toEqual([]);

    // A leftover another replica's prune removes first: skipped, not found.
    const environment = devEnvironment();
    const cluster = new ClusterClients(mockServices.logger.mock()).deploy(environment);
    const rendered = await renderStoredRelease(harness.store, entityRef, '0.1.4', environment);
    const leftover = `${name}-leftover`;
    await cluster.apply([
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: leftover, labels: rendered.deployment.metadata!.labels },
      },
    ]);
    const changes = await pruneTrack(
      {
        fence: { epoch: `mainline/${Date.now()}/prune-test/1` },
        beforeWrite: async () => {
          await harness.cluster.kubectl(['-n', 'dev', 'delete', 'configmap', leftover]);
        },
      },
      cluster,
      [rendered],
    );
    expect(changes).toEqual([
      { kind: 'ConfigMap', name: leftover, action: 'skipped', reason: 'not found' },
    ]);
  });

  it('deploys with recreate', async () => {
    const name = uniqueName('adservice');
    const { entity } = entityWithManifest({
      name,
      manifest: adserviceManifest(name),
      annotations: { 'kube-delivery.io/strategy': 'recreate' },
    });
    expect((await deployAndSettle(entity, '0.1.3')).status).toBe('succeeded');
    expect((await deployAndSettle(entity, '0.1.4')).status).toBe('succeeded');
    const deployment = await get(['-n', 'dev', 'get', 'deployment', name]);
    expect(deployment.spec.strategy.type).toBe('Recreate');
    expect(deployment.spec.template.spec.containers[0].image).toMatch(/:0\.1\.4$/);
  });

  it('blue-green: over 20 switches the Service never loses its ready endpoints, never selects unready pods, and each old release is removed', async () => {
    const name = uniqueName('frontend');
    const { entity } = entityWithManifest({
      name,
      manifest: frontendManifest(name),
      annotations: {
        'kube-delivery.io/strategy': 'blue-green',
        'kube-delivery.io/replicas': '2',
      },
    });
    const first = await deployAndSettle(entity, '0.1.0');
    expect(first.status).toBe('succeeded');
    const deploymentsOfApp = async () =>
      (await get(['-n', 'dev', 'get', 'deployments', '-l', `app.kubernetes.io/name=${name}`])).items;

    // Watch the Service, its EndpointSlices and pods through every switch,
    // until the last old release is gone.
    const traffic = await watchServiceTraffic({
      cluster: harness.cluster,
      namespace: 'dev',
      service: name,
      appLabel: name,
    });
    const started = Date.now();
    const versions = Array.from({ length: SWITCHES }, (_, i) => `0.2.${i}`);
    for (const version of versions) {
      const outcome = await deployAndSettle(entity, version);
      expect(outcome).toMatchObject({ status: 'succeeded', message: `${version} is serving` });
      expect(outcome.steps.map(s => s.name)).toContain('Switch traffic');
      // After the clean-up delay the previous release's Deployment is removed,
      // and the watch sees its pods go.
      await waitFor(async () => (await deploymentsOfApp()).length === 1);
      await waitFor(async () => traffic.podsOutsideSelector() === 0);
    }
    traffic.stop();
    const seconds = Math.round((Date.now() - started) / 1000);
    const endpointEvents = traffic.switches.map(s => s.endpointEvents);
    // eslint-disable-next-line no-console
    console.log(
      `blue-green: ${traffic.switches.length} switches in ${seconds} s, ${
        traffic.stats().events
      } watch events, EndpointSlice events after each switch: ${endpointEvents.join(' ')}, violations: ${
        traffic.violations.length
      }`,
    );
    expect(traffic.violations).toEqual([]);
    expect(traffic.switches).toHaveLength(SWITCHES);
    // The watch was live throughout: after every switch, EndpointSlice events
    // moved the ready endpoints onto the new release's pods.
    expect(traffic.switches.filter(s => !s.endpointsMoved)).toEqual([]);

    const service = await get(['-n', 'dev', 'get', 'service', name]);
    const [serving] = await deploymentsOfApp();
    expect(serving.spec.template.metadata.labels['kube-delivery.io/release']).toBe(
      service.spec.selector['kube-delivery.io/release'],
    );
    expect(serving.spec.template.spec.containers[0].image).toMatch(/:0\.2\.19$/);
  }, 900_000);

  it('rollback redeploys an earlier release with its ConfigMap data', async () => {
    const name = uniqueName('adservice');
    const { entity, writeManifest } = entityWithManifest({
      name,
      manifest: adserviceManifest(name, { adsPerPage: '2' }),
    });
    expect((await deployAndSettle(entity, '0.1.3')).status).toBe('succeeded');
    writeManifest(adserviceManifest(name, { adsPerPage: '5' }));
    expect((await deployAndSettle(entity, '0.1.4')).status).toBe('succeeded');
    let config = await get(['-n', 'dev', 'get', 'configmap', `${name}-config`]);
    expect(config.data.ADS_PER_PAGE).toBe('5');
    expect(config.data.ENVIRONMENT).toBe('dev');

    const entityRef = `component:default/${name}`;
    const earlier = await harness.delivery.releaseByVersion(entityRef, '0.1.3');
    const rollback = await harness.delivery.deploy({
      entity,
      release: earlier,
      environment: 'dev',
      kind: 'rollback',
      createdBy: actor,
    });
    const done = await harness.settle(rollback.id);
    expect(done.status).toBe('succeeded');
    expect(done.kind).toBe('rollback');
    config = await get(['-n', 'dev', 'get', 'configmap', `${name}-config`]);
    expect(config.data.ADS_PER_PAGE).toBe('2');
    const deployment = await get(['-n', 'dev', 'get', 'deployment', name]);
    expect(deployment.spec.template.spec.containers[0].image).toMatch(/:0\.1\.3$/);

    const history = await harness.delivery.listDeployments({ entityRef, limit: 10 });
    expect(history.items.map(d => `${d.kind} ${d.version} ${d.status}`)).toEqual([
      'rollback 0.1.3 succeeded',
      'deploy 0.1.4 succeeded',
      'deploy 0.1.3 succeeded',
    ]);
  });

  it('a release whose pods never become ready fails and the previous release serves again', async () => {
    const name = uniqueName('frontend');
    const { entity, writeManifest } = entityWithManifest({
      name,
      manifest: frontendManifest(name),
    });
    expect((await deployAndSettle(entity, '0.1.3')).status).toBe('succeeded');
    writeManifest(frontendManifest(name, { neverReady: true }));
    const failed = await deployAndSettle(entity, '0.1.4');
    expect(`${failed.status}: ${failed.message}`).toMatch(/^rolled-back: /);
    expect(failed.message).toMatch(/progress deadline/);
    expect(failed.message).toMatch(/0\.1\.3 is serving again/);
    expect(failed.steps.map(s => `${s.name}:${s.status}`)).toEqual([
      'Dry run:succeeded',
      'Apply:succeeded',
      'Rollout:failed',
      'Roll back to 0.1.3:succeeded',
    ]);
    const deployment = await get(['-n', 'dev', 'get', 'deployment', name]);
    expect(deployment.spec.template.spec.containers[0].image).toMatch(/:0\.1\.3$/);
    const status = await harness.delivery.status(`component:default/${name}`);
    const dev = status.find(s => s.environment === 'dev')!;
    expect(dev.current?.version).toBe('0.1.3');
    expect(dev.rollout?.complete).toBe(true);

    const history = await harness.delivery.listDeployments({
      entityRef: `component:default/${name}`,
      limit: 10,
    });
    expect(history.items.map(d => `${d.version} ${d.status}`)).toEqual([
      '0.1.4 rolled-back',
      '0.1.3 succeeded',
    ]);
  });

  it('applying the same release 20 times starts no rollout: no ReplicaSet, no spec change, only the fencing epoch moves', async () => {
    const name = uniqueName('adservice');
    const { entity } = entityWithManifest({ name, manifest: adserviceManifest(name) });
    expect((await deployAndSettle(entity, '0.1.3')).status).toBe('succeeded');
    const before = await get(['-n', 'dev', 'get', 'deployment', name]);
    const replicaSetsBefore = await get(['-n', 'dev', 'get', 'replicasets', '-l', `app.kubernetes.io/name=${name}`]);
    for (let i = 0; i < 20; i++) {
      expect((await deployAndSettle(entity, '0.1.3')).status).toBe('succeeded');
    }
    const after = await get(['-n', 'dev', 'get', 'deployment', name]);
    const replicaSetsAfter = await get(['-n', 'dev', 'get', 'replicasets', '-l', `app.kubernetes.io/name=${name}`]);
    // Each deployment stamps its epoch (the fencing token every later write
    // is checked against) on the objects it writes; nothing else changes.
    // (The API server counts a Deployment's annotation change in its
    // generation, as the controller copies annotations to its ReplicaSet, so
    // the generation moves; the revision and the ReplicaSets do not.)
    const withoutEpoch = (d: any) => {
      const { [ANNOTATION_EPOCH]: epoch, ...annotations } = d.metadata.annotations;
      return { epoch, annotations, labels: d.metadata.labels, spec: d.spec };
    };
    expect(withoutEpoch(after).epoch).not.toBe(withoutEpoch(before).epoch);
    expect({ ...withoutEpoch(after), epoch: undefined }).toEqual({ ...withoutEpoch(before), epoch: undefined });
    expect(replicaSetsAfter.items.map((r: any) => r.metadata.uid)).toEqual(
      replicaSetsBefore.items.map((r: any) => r.metadata.uid),
    );
  });

  it('a restart replaces every pod of the running release, with the release unchanged', async () => {
    const name = uniqueName('adservice');
    const { entity } = entityWithManifest({ name, manifest: adserviceManifest(name) });
    expect((await deployAndSettle(entity, '0.1.3')).status).toBe('succeeded');
    const selector = `app.kubernetes.io/name=${name}`;
    const podsBefore = await get(['-n', 'dev', 'get', 'pods', '-l', selector]);
    const queued = await harness.delivery.restart({
      entity,
      entityRef: `component:default/${name}`,
      environment: 'dev',
      createdBy: actor,
    });
    const restarted = await harness.settle(queued.id);
    expect(restarted).toMatchObject({ status: 'succeeded', kind: 'restart', version: '0.1.3' });
    const deployment = await get(['-n', 'dev', 'get', 'deployment', name]);
    expect(deployment.spec.template.metadata.annotations['kube-delivery.io/restarted-at']).toBe(
      restarted.createdAt,
    );
    const podsAfter = await get(['-n', 'dev', 'get', 'pods', '-l', selector]);
    const live = (list: any) =>
      list.items.filter((p: any) => !p.metadata.deletionTimestamp).map((p: any) => p.metadata.uid);
    expect(live(podsAfter)).toHaveLength(live(podsBefore).length);
    expect(live(podsAfter).filter((uid: string) => live(podsBefore).includes(uid))).toEqual([]);
  });

  it('20 concurrent deploy requests for one service and environment: one is queued, the others get 409', async () => {
    const name = uniqueName('adservice');
    const { entity } = entityWithManifest({ name, manifest: adserviceManifest(name) });
    const rel = await release(entity, '0.1.3');
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, () =>
        harness.delivery.deploy({ entity, release: rel, environment: 'dev', kind: 'deploy', createdBy: actor }),
      ),
    );
    const accepted = results.filter(r => r.status === 'fulfilled');
    const refused = results.filter(
      r => r.status === 'rejected' && r.reason instanceof ConflictError,
    );
    expect(accepted).toHaveLength(1);
    expect(refused).toHaveLength(19);
    const done = await harness.settle((accepted[0] as PromiseFulfilledResult<any>).value.id);
    expect(done.status).toBe('succeeded');
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise(resolve => setTimeout(resolve, 300));
  }
}
