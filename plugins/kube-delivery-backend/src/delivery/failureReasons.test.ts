import { FAIL_AS_ANNOTATION } from '@internal/devcluster';
import type { Knex } from 'knex';
import { frontendManifest } from '../__testUtils__/boutiqueManifests';
import {
  createDeliveryHarness,
  entityWithManifest,
  uniqueName,
  type DeliveryHarness,
} from '../__testUtils__/deliveryHarness';
import { printFigures } from '../__testUtils__/figures';
import { createTestDatabases } from '../__testUtils__/testDatabases';

jest.setTimeout(300_000);

const actor = 'user:default/ada';

/** The frontend's manifest with its pod template changed by `edit` (a string replace that must apply). */
function manifestWith(name: string, from: string, to: string): string {
  const manifest = frontendManifest(name);
  if (!manifest.includes(from)) throw new Error(`No "${from}" in the manifest`);
  return manifest.replace(from, to);
}

const failingAs = (name: string, reason: string) =>
  manifestWith(
    name,
    '      labels:\n        app: ',
    `      annotations:\n        ${FAIL_AS_ANNOTATION}: ${reason}\n      labels:\n        app: `,
  );

/**
 * Why a deploy failed, on the local control plane: each failure is made the
 * way a cluster makes it (a quota that refuses the pods, a node selector no
 * node matches) or, for what only a kubelet reports (image pulls, crashes,
 * OOM kills), by a kwok stage that writes the same status a kubelet would.
 * The Rollout step says the reason while it waits, and the final message
 * keeps it.
 */
describe('why a deploy failed', () => {
  const databases = createTestDatabases();
  let knex: Knex;
  let harness: DeliveryHarness;
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    knex = await databases.init('SQLITE_3');
    harness = await createDeliveryHarness({ knex });
  });
  afterAll(async () => {
    await harness?.close();
  });
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  /**
   * Deploys 0.1.3 with the manifest and waits until it failed: the Rollout
   * step must say `reason` while the deploy runs, and the final message must
   * keep it. Returns after how long the step first said it.
   */
  async function expectReason(manifest: string, name: string, reason: RegExp) {
    const { entity } = entityWithManifest({ name, manifest });
    cleanups.push(() =>
      harness.cluster.kubectl([
        '-n',
        'dev',
        'delete',
        'deployment,service,configmap,pdb,serviceaccount',
        '-l',
        `app.kubernetes.io/name=${name}`,
        '--ignore-not-found',
      ]),
    );
    const release = await harness.delivery.createRelease({
      entity,
      version: '0.1.3',
      createdBy: actor,
    });
    const queued = await harness.delivery.deploy({
      entity,
      release,
      environment: 'dev',
      kind: 'deploy',
      createdBy: actor,
    });
    const started = Date.now();
    let saidAfterMs: number | undefined;
    for (;;) {
      const record = await harness.store.getDeployment(queued.id);
      const rollout = record.steps.find(s => s.name === 'Rollout');
      if (record.status === 'running' && reason.test(rollout?.message ?? '')) {
        saidAfterMs ??= Date.now() - started;
      }
      if (record.status !== 'queued' && record.status !== 'running') {
        expect(record.status).toBe('failed');
        expect(saidAfterMs).toBeDefined();
        expect(record.message).toMatch(reason);
        return saidAfterMs!;
      }
      if (Date.now() - started > 120_000) {
        throw new Error(`Deployment of ${name} still ${record.status}`);
      }
      await new Promise(resolve => setTimeout(resolve, 250));
    }
  }

  const figures: Record<string, string | number> = {};
  afterAll(() => printFigures('why a deploy failed', figures));

  it('says that the pods cannot be created, and why (a quota refuses them)', async () => {
    const name = uniqueName('fe-quota');
    // BestEffort pods (no requests or limits) are refused in dev while this quota exists.
    const quota = `kd-test-${name}`;
    await harness.cluster.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'ResourceQuota',
        metadata: { name: quota, namespace: 'dev' },
        spec: { hard: { pods: '0' }, scopes: ['BestEffort'] },
      }),
    });
    cleanups.push(() =>
      harness.cluster.kubectl([
        '-n',
        'dev',
        'delete',
        'resourcequota',
        quota,
        '--ignore-not-found',
      ]),
    );
    const bestEffort = manifestWith(
      name,
      '          resources:\n            requests: { cpu: 100m, memory: 64Mi }\n            limits: { cpu: 200m, memory: 128Mi }\n',
      '',
    );
    figures.quotaSaidAfterMs = await expectReason(
      bestEffort,
      name,
      /FailedCreate: pods "[^"]+" is forbidden: exceeded quota: kd-test-/,
    );
  });

  it('says that no node can take the pods', async () => {
    const name = uniqueName('fe-unschedulable');
    const manifest = manifestWith(
      name,
      '    spec:\n      containers:',
      '    spec:\n      nodeSelector:\n        topology.kubernetes.io/zone: zone-nowhere\n      containers:',
    );
    figures.unschedulableSaidAfterMs = await expectReason(
      manifest,
      name,
      /Pod [a-z0-9-]+ cannot be scheduled: 0\/3 nodes are available/,
    );
  });

  it.each([
    [
      'ImagePullBackOff',
      /container [a-z0-9-]+ is waiting: ImagePullBackOff: Back-off pulling image "example\.test\/boutique\//,
    ],
    [
      'CrashLoopBackOff',
      /container [a-z0-9-]+ last terminated: Error \(exit code 1\), restarted 3 times/,
    ],
    [
      'OOMKilled',
      /container [a-z0-9-]+ last terminated: OOMKilled \(exit code 137\)/,
    ],
  ])('says when the containers report %s', async (reason, expected) => {
    const name = uniqueName(`fe-${reason.toLowerCase()}`);
    figures[`${reason}SaidAfterMs`] = await expectReason(
      failingAs(name, reason),
      name,
      expected,
    );
  });
});
