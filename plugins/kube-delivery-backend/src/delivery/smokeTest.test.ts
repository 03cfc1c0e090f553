import type { Entity } from '@backstage/catalog-model';
import type { Knex } from 'knex';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabases } from '../__testUtils__/testDatabases';
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
} from '../__testUtils__/releaseObjects';
import { checkoutserviceManifest } from '../__testUtils__/smokeTestManifests';

jest.setTimeout(180_000);

const actor = 'user:default/ada';

/**
 * Smoke tests on the local control plane: the manifest's Job (annotated
 * kube-delivery.io/smoke-test) runs after the rollout; the devcluster ends its
 * pod with the exit code the pod template's annotation asks for.
 */
describe('smoke tests on the local control plane', () => {
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

  const get = (args: string[]) => kubectlJson(harness.cluster, args);
  const dev = () => harness.config.environments.find(e => e.name === 'dev')!;

  async function deployAndSettle(entity: Entity, version: string) {
    const release = await harness.delivery.createRelease({
      entity,
      version,
      createdBy: actor,
    });
    const queued = await harness.delivery.deploy({
      entity,
      release,
      environment: 'dev',
      kind: 'deploy',
      createdBy: actor,
    });
    return harness.settle(queued.id);
  }

  it('rolling: a passing smoke test completes the deploy; a failing one rolls back to the previous release', async () => {
    const name = uniqueName('checkout');
    const entityRef = `component:default/${name}`;
    const { entity, writeManifest } = entityWithManifest({
      name,
      manifest: checkoutserviceManifest(name, {
        smokeTestExitCode: 0,
        paymentTimeout: '5s',
      }),
    });

    const first = await deployAndSettle(entity, '0.1.3');
    expect(`${first.status}: ${first.message}`).toBe(
      'succeeded: 0.1.3 is serving',
    );
    expect(first.steps.map(s => `${s.name}:${s.status}`)).toEqual([
      'Dry run:succeeded',
      'Apply:succeeded',
      'Rollout:succeeded',
      'Smoke test:succeeded',
      'Clean up:succeeded',
    ]);
    expect(first.steps.find(s => s.name === 'Smoke test')!.message).toMatch(
      /Job "checkout-[0-9a-f]+-smoke-[0-9a-z]+" succeeded/,
    );

    // 0.1.4: new configuration, and a smoke test that fails.
    writeManifest(
      checkoutserviceManifest(name, {
        smokeTestExitCode: 1,
        paymentTimeout: '9s',
      }),
    );
    const second = await deployAndSettle(entity, '0.1.4');
    expect(second.status).toBe('rolled-back');
    expect(second.message).toMatch(/^Smoke test \S+ failed: Job "\S+" failed/);
    expect(second.message).toMatch(
      /container smoke exited with code 1 \(Error\)/,
    );
    expect(second.message).toMatch(
      /Rolled back automatically: 0\.1\.3 is serving again\.$/,
    );
    expect(second.steps.map(s => `${s.name}:${s.status}`)).toEqual([
      'Dry run:succeeded',
      'Apply:succeeded',
      'Rollout:succeeded',
      'Smoke test:failed',
      'Roll back to 0.1.3:succeeded',
    ]);

    // The smoke test ran against 0.1.4 (its Job failed) ...
    const jobs = await get([
      '-n',
      'dev',
      'get',
      'jobs',
      '-l',
      `app.kubernetes.io/name=${name}`,
    ]);
    const outcomes = jobs.items
      .map((j: any) => {
        const done = j.status.conditions?.find(
          (c: any) =>
            ['Complete', 'Failed'].includes(c.type) && c.status === 'True',
        );
        return `${j.metadata.annotations['kube-delivery.io/version']} ${done?.type}`;
      })
      .sort();
    expect(outcomes).toEqual(['0.1.3 Complete', '0.1.4 Failed']);

    // ... and 0.1.3 serves again, image and configuration.
    const deployment = await get(['-n', 'dev', 'get', 'deployment', name]);
    expect(deployment.spec.template.spec.containers[0].image).toBe(
      `example.test/boutique/${name}:0.1.3`,
    );
    const ready = deployment.status.conditions.find(
      (c: any) => c.type === 'Available',
    );
    expect(ready?.status).toBe('True');
    const config = await get([
      '-n',
      'dev',
      'get',
      'configmap',
      `${name}-config`,
    ]);
    expect(config.data.PAYMENT_TIMEOUT).toBe('5s');
    const pods = await get([
      '-n',
      'dev',
      'get',
      'pods',
      '-l',
      `app.kubernetes.io/name=${name},kube-delivery.io/track`,
    ]);
    const images = new Set(
      pods.items
        .filter((p: any) => !p.metadata.deletionTimestamp)
        .map((p: any) => p.spec.containers[0].image),
    );
    expect([...images]).toEqual([`example.test/boutique/${name}:0.1.3`]);

    // Nothing of 0.1.4 is left over.
    const previous = await renderStoredRelease(
      harness.store,
      entityRef,
      '0.1.3',
      dev(),
    );
    expect(await liveObjectsOf(harness.cluster, name)).toEqual(
      renderedObjects(previous),
    );

    const status = await harness.delivery.status(entityRef);
    expect(status.find(s => s.environment === 'dev')!.current?.version).toBe(
      '0.1.3',
    );
    const history = await harness.delivery.listDeployments({
      entityRef,
      limit: 10,
    });
    expect(history.items.map(d => `${d.version} ${d.status}`)).toEqual([
      '0.1.4 rolled-back',
      '0.1.3 succeeded',
    ]);
  });

  it("a failing smoke test's message ends with its last log lines, with the values of its Secrets masked", async () => {
    const name = uniqueName('checkout');
    // kwok serves a container's log from the file a ClusterLogs object names,
    // through its kubelet API, as `kubectl logs` reads it on a real cluster.
    const container = uniqueName('smoke');
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-smoke-log-'));
    const logsFile = path.join(dir, 'smoke.log');
    const lines = [
      'connecting to checkoutservice:5050',
      `logging in with password ${password}`,
      'FAIL: PlaceOrder answered UNAVAILABLE: no healthy upstream',
    ];
    // The CRI log format kubelets read: time, stream, tag, text.
    fs.writeFileSync(
      logsFile,
      lines
        .map(
          (line, i) => `2026-12-04T10:00:0${i}.000000000Z stdout F ${line}\n`,
        )
        .join(''),
    );
    const clusterLogs = {
      apiVersion: 'kwok.x-k8s.io/v1alpha1',
      kind: 'ClusterLogs',
      metadata: { name: container },
      spec: {
        selector: { matchNamespaces: ['dev'] },
        logs: [{ containers: [container], logsFile }],
      },
    };
    const applied = await harness.cluster.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify(clusterLogs),
    });
    expect(applied.stderr).toBe('');
    try {
      const { entity } = entityWithManifest({
        name,
        manifest: checkoutserviceManifest(name, {
          smokeTestExitCode: 1,
          smokeTestContainer: container,
          smokeTestPassword: password,
        }),
      });
      const deployed = await deployAndSettle(entity, '0.1.3');
      expect(deployed.status).toBe('failed');
      const smoke = deployed.steps.find(s => s.name === 'Smoke test')!;
      for (const message of [deployed.message!, smoke.message!]) {
        expect(message).toMatch(
          new RegExp(
            `container ${container} exited with code 1 \\(Error\\)\nlast lines of ${name}-smoke-[0-9a-z-]+/${container}:\nconnecting to checkoutservice:5050\nlogging in with password \\[secret\\]\nFAIL: PlaceOrder answered UNAVAILABLE: no healthy upstream`,
          ),
        );
        expect(message).not.toContain(password);
      }
    } finally {
      await harness.cluster.kubectl(['delete', 'clusterlogs', container]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('blue-green: a failing smoke test never switches traffic and leaves no trace of the new release', async () => {
    const name = uniqueName('checkout');
    const entityRef = `component:default/${name}`;
    const { entity, writeManifest } = entityWithManifest({
      name,
      manifest: checkoutserviceManifest(name, { smokeTestExitCode: 0 }),
      annotations: { 'kube-delivery.io/strategy': 'blue-green' },
    });

    const first = await deployAndSettle(entity, '0.1.3');
    expect(`${first.status}: ${first.message}`).toBe(
      'succeeded: 0.1.3 is serving',
    );
    expect(first.steps.map(s => `${s.name}:${s.status}`)).toEqual([
      'Dry run:succeeded',
      'Apply new release:succeeded',
      'Rollout:succeeded',
      'Smoke test:succeeded',
      'Switch traffic:succeeded',
    ]);
    const blue = await renderStoredRelease(
      harness.store,
      entityRef,
      '0.1.3',
      dev(),
    );
    // The smoke test tested the new release through its preview Service.
    const firstJob = await get([
      '-n',
      'dev',
      'get',
      'jobs',
      '-l',
      `app.kubernetes.io/name=${name}`,
    ]);
    expect(firstJob.items).toHaveLength(1);
    const target = firstJob.items[0].spec.template.spec.containers[0].env.find(
      (e: any) => e.name === 'KUBE_DELIVERY_TARGET_HOST',
    );
    expect(target.value).toBe(`${blue.previewService!.metadata!.name}.dev.svc`);

    writeManifest(checkoutserviceManifest(name, { smokeTestExitCode: 1 }));
    const second = await deployAndSettle(entity, '0.1.4');
    expect(second.status).toBe('failed');
    expect(second.message).toMatch(/^Smoke test \S+ failed: Job "\S+" failed/);
    expect(second.message).toMatch(
      /Traffic never switched: 0\.1\.3 is still serving\.$/,
    );
    expect(second.steps.map(s => `${s.name}:${s.status}`)).toEqual([
      'Dry run:succeeded',
      'Apply new release:succeeded',
      'Rollout:succeeded',
      'Smoke test:failed',
      'Remove new release:succeeded',
    ]);
    const green = await renderStoredRelease(
      harness.store,
      entityRef,
      '0.1.4',
      dev(),
    );
    expect(green.workloadName).not.toBe(blue.workloadName);

    // The live Service still selects 0.1.3's pods, and they are ready.
    const service = await get(['-n', 'dev', 'get', 'service', name]);
    expect(service.spec.selector).toEqual(blue.podSelector);
    const selector = Object.entries(service.spec.selector)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const selected = await get(['-n', 'dev', 'get', 'pods', '-l', selector]);
    expect(selected.items.length).toBeGreaterThan(0);
    for (const pod of selected.items) {
      expect(pod.spec.containers[0].image).toBe(
        `example.test/boutique/${name}:0.1.3`,
      );
      expect(
        pod.status.conditions.find((c: any) => c.type === 'Ready')?.status,
      ).toBe('True');
    }

    // 0.1.4's Deployment, ConfigMap and preview Service are gone; 0.1.3's are all there.
    const live = await liveObjectsOf(harness.cluster, name);
    expect(live).toEqual(renderedObjects(blue));
    for (const object of renderedObjects(green).filter(
      o => o !== `Service/${name}`,
    )) {
      expect(live).not.toContain(object);
    }

    const history = await harness.delivery.listDeployments({
      entityRef,
      limit: 10,
    });
    expect(history.items.map(d => `${d.version} ${d.status}`)).toEqual([
      '0.1.4 failed',
      '0.1.3 succeeded',
    ]);
    const status = await harness.delivery.status(entityRef);
    expect(status.find(s => s.environment === 'dev')!.current?.version).toBe(
      '0.1.3',
    );
  });
});
