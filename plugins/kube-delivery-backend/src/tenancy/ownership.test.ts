import { mockServices } from '@backstage/backend-test-utils';
import { ConflictError } from '@backstage/errors';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import type { KubernetesObject } from '@kubernetes/client-node';
import { kubectlJson, uniqueName } from '../__testUtils__/deliveryHarness';
import { createEnvironmentCluster } from '../cluster';
import { ownerLabels } from './ownership';
import { ANNOTATION_OWNER_REF, LABEL_OWNER } from '../cluster/managedObjects';

jest.setTimeout(120_000);

const ALICE = 'component:default/alice';
const BOB = 'component:team-b/bob';

/** A ConfigMap as Kube Delivery renders it for an entity. */
function configMap(
  name: string,
  entityRef: string,
  value: string,
): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name,
      labels: {
        'app.kubernetes.io/managed-by': 'kube-delivery',
        ...ownerLabels(entityRef),
      },
      annotations: { [ANNOTATION_OWNER_REF]: entityRef },
    },
    data: { value },
  } as KubernetesObject;
}

/**
 * The ownership check of the environment's cluster client, on the local
 * control plane with dev's own credentials: the live object decides.
 */
describe('writes checked against the live object’s owner', () => {
  let cluster: DevCluster;
  const names: string[] = [];
  const clientFor = (adoptUnmanaged: boolean) =>
    createEnvironmentCluster(
      {
        name: 'dev',
        namespace: 'dev',
        url: cluster.server,
        caData: cluster.caData,
        serviceAccountToken: cluster.tokens.dev,
      },
      mockServices.logger.mock(),
      { adoptUnmanaged },
    );
  const live = (name: string) =>
    kubectlJson(cluster, ['-n', 'dev', 'get', 'configmap', name]);
  const unique = () => {
    const name = uniqueName('owned');
    names.push(name);
    return name;
  };

  beforeAll(async () => {
    cluster = await getDevCluster();
  });

  afterAll(async () => {
    if (names.length) {
      await cluster.kubectl([
        '-n',
        'dev',
        'delete',
        'configmap',
        ...names,
        '--ignore-not-found',
      ]);
    }
  });

  it("refuses a ConfigMap of another entity's name, at the dry run and at the apply, naming the owner", async () => {
    const name = unique();
    const dev = clientFor(false);
    await dev.apply([configMap(name, ALICE, 'alice')]);
    const before = await live(name);
    for (const write of [
      () => dev.dryRun([configMap(name, BOB, 'bob')]),
      () => dev.apply([configMap(name, BOB, 'bob')]),
    ]) {
      const refusal = write();
      await expect(refusal).rejects.toThrow(ConflictError);
      await expect(refusal).rejects.toThrow(
        `belongs to entity ${ALICE}, not to ${BOB}`,
      );
    }
    const after = await live(name);
    expect(after.metadata.resourceVersion).toBe(
      before.metadata.resourceVersion,
    );
    expect(after.data).toEqual({ value: 'alice' });
    // The owner itself writes on.
    await dev.apply([configMap(name, ALICE, 'alice 2')]);
    expect((await live(name)).data).toEqual({ value: 'alice 2' });
  });

  it('takes over an object Kube Delivery did not create only where the environment allows adoption', async () => {
    const name = unique();
    const created = await cluster.kubectl([
      '-n',
      'dev',
      'create',
      'configmap',
      name,
      '--from-literal=value=kubectl',
    ]);
    expect(created.code).toBe(0);
    await expect(
      clientFor(false).apply([configMap(name, ALICE, 'alice')]),
    ).rejects.toThrow(
      'belongs to no Kube Delivery entity (written by kubectl-create)',
    );
    expect((await live(name)).data).toEqual({ value: 'kubectl' });
    await clientFor(true).apply([configMap(name, ALICE, 'alice')]);
    const adopted = await live(name);
    expect(adopted.data).toEqual({ value: 'alice' });
    expect(adopted.metadata.labels[LABEL_OWNER]).toBe(
      ownerLabels(ALICE)[LABEL_OWNER],
    );
  });

  it("deletes only the given owner's object", async () => {
    const name = unique();
    const dev = clientFor(false);
    await dev.apply([configMap(name, ALICE, 'alice')]);
    await expect(
      dev.delete('v1', 'ConfigMap', name, {
        owner: ownerLabels(BOB)[LABEL_OWNER],
      }),
    ).rejects.toThrow(`belongs to entity ${ALICE}`);
    expect((await live(name)).data).toEqual({ value: 'alice' });
    await expect(
      dev.delete('v1', 'ConfigMap', name, {
        owner: ownerLabels(ALICE)[LABEL_OWNER],
      }),
    ).resolves.toBe(true);
  });
});
