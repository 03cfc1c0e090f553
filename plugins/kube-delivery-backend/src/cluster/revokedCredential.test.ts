import { getDevCluster, type DevCluster } from '@internal/devcluster';
import type { Knex } from 'knex';
import { adserviceManifest } from '../__testUtils__/boutiqueManifests';
import {
  createDeliveryHarness,
  entityWithManifest,
  uniqueName,
  type DeliveryHarness,
} from '../__testUtils__/deliveryHarness';
import { printFigures } from '../__testUtils__/figures';
import { createTestDatabases } from '../__testUtils__/testDatabases';

jest.setTimeout(300_000);

const NAMESPACE = 'kube-delivery-system';

/** Pods that never become Ready: the rollout waits until its progress deadline (120 s). */
function neverReadyManifest(name: string) {
  return adserviceManifest(name).replace(
    '    metadata:\n      labels:\n',
    '    metadata:\n      annotations:\n        devcluster.kube-delivery.io/never-ready: "true"\n      labels:\n',
  );
}

/**
 * A credential revoked or narrowed while a rollout waits: the API server is
 * ready and refuses it, which is not a restart (the outage suite waits those
 * out), so the step fails at once, naming the credential and what to do,
 * instead of retrying until the progress deadline.
 */
describe('a credential refused by a ready API server during a rollout', () => {
  const databases = createTestDatabases();
  let cluster: DevCluster;
  let knex: Knex;

  beforeAll(async () => {
    cluster = await getDevCluster();
    knex = await databases.init('SQLITE_3');
  });

  const kubectl = async (args: string[]) => {
    const result = await cluster.kubectl(args);
    if (result.code !== 0)
      throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };

  it.each([
    [
      'narrowed (its RoleBinding removed)',
      (account: string) =>
        kubectl(['-n', 'dev', 'delete', 'rolebinding', account]),
      "its rights were narrowed. Restore the Role bound to the environment's ServiceAccount",
    ],
    [
      'revoked (its ServiceAccount deleted)',
      (account: string) =>
        kubectl(['-n', NAMESPACE, 'delete', 'serviceaccount', account]),
      'the token is no longer valid (revoked, expired, or its ServiceAccount deleted)',
    ],
  ])(
    'fails the step at once when the credential is %s',
    async (_what, refuse, says) => {
      // A deployer of its own, with dev's Role, as a platform team sets one up.
      const account = uniqueName('deployer');
      await kubectl(['-n', NAMESPACE, 'create', 'serviceaccount', account]);
      await kubectl([
        '-n',
        'dev',
        'create',
        'rolebinding',
        account,
        '--role=kube-delivery',
        `--serviceaccount=${NAMESPACE}:${account}`,
      ]);
      await kubectl([
        'create',
        'clusterrolebinding',
        account,
        '--clusterrole=kube-delivery-namespace-dev',
        `--serviceaccount=${NAMESPACE}:${account}`,
      ]);
      const token = (
        await kubectl(['-n', NAMESPACE, 'create', 'token', account])
      ).trim();
      let harness: DeliveryHarness | undefined;
      const name = uniqueName('revoked');
      try {
        harness = await createDeliveryHarness({
          knex,
          cluster: { ...cluster, tokens: { ...cluster.tokens, dev: token } },
        });
        const { entity } = entityWithManifest({
          name,
          manifest: neverReadyManifest(name),
        });
        const release = await harness.delivery.createRelease({
          entity,
          version: '0.1.3',
          createdBy: 'user:default/ada',
        });
        const queued = await harness.delivery.deploy({
          entity,
          release,
          environment: 'dev',
          kind: 'deploy',
          createdBy: 'user:default/ada',
        });
        // Refuse the credential once the rollout is being waited for.
        for (;;) {
          const current = await harness.store.getDeployment(queued.id);
          if (
            current.steps.some(
              s => s.name === 'Rollout' && s.status === 'running',
            )
          )
            break;
          if (current.status !== 'queued' && current.status !== 'running') {
            throw new Error(
              `Deployment ended before its rollout: ${current.message}`,
            );
          }
          await new Promise(resolve => setTimeout(resolve, 100));
        }
        const refusedAt = Date.now();
        await refuse(account);
        const done = await harness.settle(queued.id, 150_000);
        const failedAfterMs = Date.parse(done.finishedAt!) - refusedAt;
        const rollout = done.steps.find(s => s.name === 'Rollout');
        printFigures(`credential ${_what} during a rollout`, {
          failedAfterMs,
          progressDeadlineSeconds: 120,
          outcome: `${done.status}: ${rollout?.message?.slice(0, 80)}…`,
        });
        expect(done.status).toBe('failed');
        expect(rollout?.status).toBe('failed');
        expect(rollout?.message).toContain(
          'The Kubernetes API server of environment "dev" is ready and refuses its configured serviceAccountToken',
        );
        expect(rollout?.message).toContain(says);
        // Long before the 120 s progress deadline that a restart is waited out for.
        expect(failedAfterMs).toBeLessThan(60_000);
      } finally {
        await harness?.close();
        await cluster.kubectl([
          '-n',
          'dev',
          'delete',
          'rolebinding',
          account,
          '--ignore-not-found',
        ]);
        await cluster.kubectl([
          'delete',
          'clusterrolebinding',
          account,
          '--ignore-not-found',
        ]);
        await cluster.kubectl([
          '-n',
          NAMESPACE,
          'delete',
          'serviceaccount',
          account,
          '--ignore-not-found',
        ]);
        await cluster.kubectl([
          '-n',
          'dev',
          'delete',
          'deployment,service,serviceaccount,configmap,pdb',
          '-l',
          `app.kubernetes.io/name=${name}`,
        ]);
      }
    },
  );
});
