import type { Entity } from '@backstage/catalog-model';
import type { DevCluster } from '@internal/devcluster';
import type { DeploymentRecord } from '../database';
import type { DeliveryHarness } from './deliveryHarness';
import { kubectlJson } from './deliveryHarness';
import {
  liveObjectsOf,
  renderedObjects,
  renderStoredRelease,
} from './releaseObjects';

/**
 * The lease of the fault suites that claim a first-attempt success. These
 * suites prove retries through API server faults, not takeovers: under a
 * loaded CI machine the test process can stall (GC, transforms) for longer
 * than the harness's 3 s lease, and a replica that misses its renewals
 * rightly loses the deployment to a second attempt.
 */
export const FIRST_ATTEMPT_LEASE_MS = 15_000;

/** The steps of a rolling deploy that succeeded, as stepOutcomes gives them. */
export const ROLLING_STEPS_SUCCEEDED = [
  'Dry run:succeeded',
  'Apply:succeeded',
  'Rollout:succeeded',
  'Clean up:succeeded',
];

/** Creates a release of `version` and queues its deployment to dev, as a user would. */
export async function queueDeploy(
  harness: DeliveryHarness,
  entity: Entity,
  version: string,
): Promise<DeploymentRecord> {
  const createdBy = 'user:default/ada';
  const release = await harness.delivery.createRelease({
    entity,
    version,
    createdBy,
  });
  return harness.delivery.deploy({
    entity,
    release,
    environment: 'dev',
    kind: 'deploy',
    createdBy,
  });
}

/** Step names and outcomes, e.g. "Rollout:succeeded". */
export const stepOutcomes = (deployment: {
  steps: Array<{ name: string; status: string }>;
}) => deployment.steps.map(s => `${s.name}:${s.status}`);

/** The objects a stored release of the entity puts in dev, as sorted "Kind/name". */
export async function renderedInDev(
  harness: DeliveryHarness,
  entityRef: string,
  version: string,
): Promise<string[]> {
  const dev = harness.config.environments.find(e => e.name === 'dev')!;
  return renderedObjects(
    await renderStoredRelease(harness.store, entityRef, version, dev),
  );
}

/**
 * What a checkoutservice-shaped service (smokeTestManifests.ts) serves in dev:
 * its objects, the image of its Deployment, whether every replica is
 * available, and its ConfigMap's PAYMENT_TIMEOUT.
 */
export async function servingInDev(cluster: DevCluster, name: string) {
  const deployment = await kubectlJson(cluster, [
    '-n',
    'dev',
    'get',
    'deployment',
    name,
  ]);
  const config = await kubectlJson(cluster, [
    '-n',
    'dev',
    'get',
    'configmap',
    `${name}-config`,
  ]);
  return {
    objects: await liveObjectsOf(cluster, name),
    image: deployment.spec.template.spec.containers[0].image as string,
    allAvailable:
      deployment.status.availableReplicas === deployment.spec.replicas,
    paymentTimeout: config.data.PAYMENT_TIMEOUT as string,
  };
}

/** Removes what a test created for its services (by app.kubernetes.io/name) in the given namespaces. */
export async function deleteServiceObjects(
  cluster: DevCluster | undefined,
  names: string[],
  namespaces = ['dev'],
) {
  if (!cluster) return;
  for (const name of names) {
    for (const namespace of namespaces) {
      await cluster.kubectl([
        'delete',
        'deployments,services,configmaps,jobs,poddisruptionbudgets',
        '-n',
        namespace,
        '--ignore-not-found',
        '--wait=false',
        '-l',
        `app.kubernetes.io/name=${name}`,
      ]);
    }
  }
}

/**
 * The deployment of 0.1.4 succeeded at its first attempt with every rolling
 * step, and dev serves exactly 0.1.4's objects with its configuration, read
 * through `cluster` (the real one, not a fault proxy's view).
 */
export async function expectServing014AtFirstAttempt(
  harness: DeliveryHarness,
  cluster: DevCluster,
  deployment: DeploymentRecord,
  name: string,
  paymentTimeout: string,
) {
  expect(`${deployment.status}: ${deployment.message}`).toBe(
    'succeeded: 0.1.4 is serving',
  );
  expect(deployment.attempts).toBe(1);
  expect(stepOutcomes(deployment)).toEqual(ROLLING_STEPS_SUCCEEDED);
  expect(await servingInDev(cluster, name)).toEqual({
    objects: await renderedInDev(harness, deployment.entityRef, '0.1.4'),
    image: `example.test/boutique/${name}:0.1.4`,
    allAvailable: true,
    paymentTimeout,
  });
}
