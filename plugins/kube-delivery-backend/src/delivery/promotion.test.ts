import { ConflictError } from '@backstage/errors';
import type { Knex } from 'knex';
import { adserviceManifest } from '../__testUtils__/boutiqueManifests';
import {
  createDeliveryHarness,
  entityWithManifest,
  kubectlJson,
  uniqueName,
  type DeliveryHarness,
} from '../__testUtils__/deliveryHarness';
import { createTestDatabases } from '../__testUtils__/testDatabases';

jest.setTimeout(120_000);

const createdBy = 'user:default/ada';

describe('lifecycle and channels on the local control plane', () => {
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

  it('refuses production until the release succeeded in test, then promotes it', async () => {
    const name = uniqueName('adservice');
    const { entity } = entityWithManifest({ name, manifest: adserviceManifest(name) });
    const entityRef = `component:default/${name}`;
    const release = await harness.delivery.createRelease({ entity, version: '0.1.3', createdBy });

    const refused = harness.delivery.deploy({
      entity,
      release,
      environment: 'production',
      kind: 'deploy',
      createdBy,
    });
    await expect(refused).rejects.toBeInstanceOf(ConflictError);
    await expect(refused).rejects.toThrow(
      'Lifecycle rule: 0.1.3 must succeed in test before it may enter production',
    );
    await expect(
      harness.delivery.promote({ entity, entityRef, environment: 'test', createdBy }),
    ).rejects.toThrow('nothing has succeeded in dev yet');

    const dev = await harness.delivery.deploy({ entity, release, environment: 'dev', kind: 'deploy', createdBy });
    expect((await harness.settle(dev.id)).status).toBe('succeeded');
    const test = await harness.delivery.promote({ entity, entityRef, environment: 'test', createdBy });
    expect(await harness.settle(test.id)).toMatchObject({ status: 'succeeded', kind: 'promote', version: '0.1.3' });
    const production = await harness.delivery.promote({
      entity,
      entityRef,
      environment: 'production',
      createdBy,
    });
    expect(await harness.settle(production.id)).toMatchObject({ status: 'succeeded', version: '0.1.3' });

    // production's replica floor (minReplicas: 2) applies.
    const deployment = await kubectlJson(harness.cluster, ['-n', 'production', 'get', 'deployment', name]);
    expect(deployment.spec.replicas).toBe(2);
    await harness.cluster.kubectl(['-n', 'production', 'delete', 'deployment,service,configmap,pdb', '-l', `app.kubernetes.io/name=${name}`]);
  });

  it('keeps a feature branch out of production by the channel rule and accepts it in dev', async () => {
    const name = uniqueName('adservice');
    const { entity } = entityWithManifest({ name, manifest: adserviceManifest(name) });
    const release = await harness.delivery.createRelease({
      entity,
      version: '0.1.4-myfeature',
      createdBy,
    });
    expect(release.channel).toBe('feature-branch');
    await expect(
      harness.delivery.deploy({ entity, release, environment: 'production', kind: 'deploy', createdBy }),
    ).rejects.toThrow(
      'Channel rule: releases of channel "feature-branch" (0.1.4-myfeature) may go only to dev, test, not production',
    );
    const dev = await harness.delivery.deploy({ entity, release, environment: 'dev', kind: 'deploy', createdBy });
    expect(await harness.settle(dev.id)).toMatchObject({ status: 'succeeded' });
    // The branch runs beside the mainline name, never as it.
    const branch = await kubectlJson(harness.cluster, ['-n', 'dev', 'get', 'deployment', `${name}-myfeature`]);
    expect(branch.metadata.labels['kube-delivery.io/track']).toBe('myfeature');
  });
});
