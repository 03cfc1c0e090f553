import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import type { Knex } from 'knex';
import request from 'supertest';
import { adserviceManifest } from '../__testUtils__/boutiqueManifests';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import {
  createDeliveryHarness,
  entityWithManifest,
  kubectlJson,
  uniqueName,
  type DeliveryHarness,
} from '../__testUtils__/deliveryHarness';
import { deployVersions } from '../__testUtils__/routingScenario';
import { clusterSnapshot, databaseSnapshot } from '../__testUtils__/snapshots';
import { createTestDatabases } from '../__testUtils__/testDatabases';

jest.setTimeout(300_000);

const API = '/api/kube-delivery';
const asUser = () => mockCredentials.user.header('user:default/mallory');

/** An entity of another kind or catalog namespace, with the victim's name, its own image and a manifest. */
function impostor(
  name: string,
  kind: string,
  namespace: string,
  manifest: string,
): Entity {
  const { entity } = entityWithManifest({ name, manifest });
  return {
    ...entity,
    kind,
    metadata: {
      ...entity.metadata,
      namespace,
      annotations: {
        ...entity.metadata.annotations,
        'kube-delivery.io/image': `example.test/mallory/${name}`,
        'kube-delivery.io/routing': 'header:userid',
      },
    },
  };
}

const refOf = (entity: Entity) =>
  `${entity.kind.toLocaleLowerCase('en-US')}:${entity.metadata.namespace}/${
    entity.metadata.name
  }`;
const pathOf = (entity: Entity) =>
  `${API}/entities/${entity.kind}/${entity.metadata.namespace}/${entity.metadata.name}`;

/**
 * The attacks of issue 13 through the HTTP API of the real plugin on the
 * local control plane: a user who may act on their own entities only
 * registers entities whose names, manifests and pods reach for another
 * team's objects and identities.
 */
describe('tenancy on the local control plane', () => {
  const databases = createTestDatabases();
  let knex: Knex;
  let harness: DeliveryHarness;
  let backend: TestBackend;
  const name = uniqueName('victim');
  const victim = entityWithManifest({
    name,
    manifest: adserviceManifest(name),
    annotations: { 'kube-delivery.io/routing': 'header:userid' },
  }).entity;
  const victimRef = `component:default/${name}`;
  const impostors = [
    impostor(name, 'Resource', 'default', adserviceManifest(name)),
    impostor(name, 'Component', 'team-b', adserviceManifest(name)),
  ];
  const legacyName = uniqueName('legacy');
  const blueGreen = entityWithManifest({
    name: legacyName,
    manifest: adserviceManifest(legacyName),
    annotations: { 'kube-delivery.io/strategy': 'blue-green' },
  }).entity;
  /** Services whose manifests run as an account that is not theirs. */
  const accountCases = [
    ['the deployer account', 'kube-delivery'],
    ['the deployer account in its own namespace', 'deployer-dev'],
    ["another service's account", name],
  ].map(([what, account]) => {
    const service = uniqueName('sa');
    const manifest = adserviceManifest(service).replace(
      '      terminationGracePeriodSeconds: 5',
      `      serviceAccountName: ${account}\n      terminationGracePeriodSeconds: 5`,
    );
    return {
      what,
      account,
      entity: entityWithManifest({ name: service, manifest }).entity,
    };
  });
  const restrictedName = uniqueName('restricted');
  const restricted = entityWithManifest({
    name: restrictedName,
    manifest: adserviceManifest(restrictedName),
  }).entity;
  const attackerEntities = [
    ...impostors,
    blueGreen,
    ...accountCases.map(c => c.entity),
    restricted,
  ];

  const createRelease = (entity: Entity, version: string) =>
    request(backend.server)
      .post(`${pathOf(entity)}/releases`)
      .set('Authorization', asUser())
      .send({ version });
  const deployToDev = (entity: Entity, version: string) =>
    request(backend.server)
      .post(`${pathOf(entity)}/deployments`)
      .set('Authorization', asUser())
      .send({ environment: 'dev', version });
  /** Sets (or removes, with null) one of dev's pod-security.kubernetes.io labels. */
  const labelDev = (key: 'warn' | 'enforce', value: string | null) =>
    harness.cluster.kubectl([
      'label',
      'namespace',
      'dev',
      '--overwrite',
      `pod-security.kubernetes.io/${key}${value === null ? '-' : `=${value}`}`,
    ]);

  const victimObjects = () =>
    clusterSnapshot(harness.cluster, ['dev'], `app.kubernetes.io/name=${name}`);

  beforeAll(async () => {
    knex = await databases.init('SQLITE_3');
    harness = await createDeliveryHarness({ knex });
    await deployVersions(harness, victim, ['0.1.3', '0.1.4-myfeature']);
    backend = await startDeliveryBackend({
      cluster: harness.cluster,
      knex,
      entities: [victim, ...attackerEntities],
      permission: { onlyEntityRef: attackerEntities.map(refOf) },
    });
  });

  afterAll(async () => {
    await backend?.stop();
    await harness?.close();
    for (const service of [name, legacyName, restrictedName]) {
      await harness?.cluster.kubectl([
        '-n',
        'dev',
        'delete',
        'deployment,service,serviceaccount,configmap,pdb,job',
        '-l',
        `app.kubernetes.io/name=${service}`,
      ]);
    }
    await harness?.cluster.kubectl([
      '-n',
      'dev',
      'delete',
      'service',
      legacyName,
      '--ignore-not-found',
    ]);
  });

  it.each(
    impostors.map(e => [`${e.kind} in namespace ${e.metadata.namespace}`, e]),
  )(
    "an entity with the victim's name (%s) can neither deploy, roll back, route nor remove a branch",
    async (_what, entity) => {
      const before = await victimObjects();
      const server = backend.server;
      const release = await request(server)
        .post(`${pathOf(entity)}/releases`)
        .set('Authorization', asUser())
        .send({ version: '0.1.5' });
      expect(release.status).toBe(201);

      const attempts = [
        request(server)
          .post(`${pathOf(entity)}/deployments`)
          .set('Authorization', asUser())
          .send({ environment: 'dev', version: '0.1.5' }),
        request(server)
          .post(`${pathOf(entity)}/rollbacks`)
          .set('Authorization', asUser())
          .send({ environment: 'dev', releaseId: release.body.id }),
        request(server)
          .post(`${pathOf(entity)}/routes`)
          .set('Authorization', asUser())
          .send({
            environment: 'dev',
            branch: 'myfeature',
            kind: 'header',
            value: 'mallory-1',
          }),
        request(server)
          .delete(`${pathOf(entity)}/branches/dev/myfeature`)
          .set('Authorization', asUser()),
      ];
      for (const res of await Promise.all(attempts)) {
        expect({
          status: res.status,
          message: res.body.error?.message,
        }).toEqual({
          status: 409,
          message: expect.stringContaining(`belongs to ${victimRef}`),
        });
      }
      // Not one of the victim's objects was touched, and nothing of the impostor was queued.
      expect(await victimObjects()).toEqual(before);
      const queued = await knex('kd_deployments').where({
        entity_ref: refOf(entity),
      });
      expect(queued).toEqual([]);
      // The victim's page still shows the truth: its release, its image.
      const [dev] = await harness.delivery.status(victimRef);
      expect(dev.current?.version).toBe('0.1.3');
      const live = await kubectlJson(harness.cluster, [
        '-n',
        'dev',
        'get',
        'deployment',
        name,
      ]);
      expect(live.spec.template.spec.containers[0].image).toBe(
        `example.test/boutique/${name}:0.1.3`,
      );
      expect(live.metadata.annotations['kube-delivery.io/entity-ref']).toBe(
        victimRef,
      );
    },
  );

  it('refuses a blue-green deploy of an entity named after a Service it does not own, before any write', async () => {
    // A Service that another team created with kubectl, not through Kube Delivery.
    const created = await harness.cluster.kubectl(
      ['-n', 'dev', 'apply', '-f', '-'],
      {
        input: JSON.stringify({
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: legacyName },
          spec: { selector: { app: 'someone-else' }, ports: [{ port: 80 }] },
        }),
      },
    );
    expect(created.code).toBe(0);
    const liveBefore = await kubectlJson(harness.cluster, [
      '-n',
      'dev',
      'get',
      'service',
      legacyName,
    ]);
    const tablesBefore = await databaseSnapshot(knex);
    const release = await createRelease(blueGreen, '1.0.0');
    expect(release.status).toBe(201);

    const res = await deployToDev(blueGreen, '1.0.0');
    expect(res.status).toBe(409);
    expect(res.body.error.message).toContain(`Service "${legacyName}"`);
    expect(res.body.error.message).toContain(
      'no Kube Delivery entity (written by kubectl',
    );

    const liveAfter = await kubectlJson(harness.cluster, [
      '-n',
      'dev',
      'get',
      'service',
      legacyName,
    ]);
    expect(liveAfter.metadata.resourceVersion).toBe(
      liveBefore.metadata.resourceVersion,
    );
    expect(liveAfter.spec.selector).toEqual({ app: 'someone-else' });
    // Nothing of the release exists: no blue-green Deployment, no account, no config.
    expect(
      await clusterSnapshot(
        harness.cluster,
        ['dev'],
        `app.kubernetes.io/name=${legacyName}`,
      ),
    ).toEqual([]);
    const tablesAfter = await databaseSnapshot(knex);
    expect(tablesAfter.kd_deployments).toEqual(tablesBefore.kd_deployments);
    expect(tablesAfter.kd_name_claims).toEqual(tablesBefore.kd_name_claims);
  });

  it.each(accountCases.map(c => [c.what, c]))(
    'refuses a manifest that runs as %s with a 400 naming the field',
    async (_what, { account, entity }) => {
      const release = await createRelease(entity, '1.0.0');
      expect(release.status).toBe(201);
      const before = await clusterSnapshot(harness.cluster, ['dev']);
      const res = await deployToDev(entity, '1.0.0');
      expect(res.status).toBe(400);
      expect(res.body.error.message).toContain(
        `spec.template.spec.serviceAccountName "${account}" names another account`,
      );
      expect(await clusterSnapshot(harness.cluster, ['dev'])).toEqual(before);
    },
  );

  it("runs the victim's pods as its own account, with no token mounted", async () => {
    const account = await kubectlJson(harness.cluster, [
      '-n',
      'dev',
      'get',
      'serviceaccount',
      name,
    ]);
    expect(account.automountServiceAccountToken).toBe(false);
    expect(account.metadata.labels['kube-delivery.io/owner']).toMatch(
      /^[0-9a-f]{40}$/,
    );
    const pods = await kubectlJson(harness.cluster, [
      '-n',
      'dev',
      'get',
      'pods',
      '-l',
      `app.kubernetes.io/name=${name}`,
    ]);
    expect(pods.items.length).toBeGreaterThanOrEqual(2); // mainline and branch
    for (const pod of pods.items) {
      expect(pod.spec.serviceAccountName).toBe(name);
      const mounts = pod.spec.containers.flatMap(
        (c: any) => c.volumeMounts ?? [],
      );
      expect(
        mounts.filter((m: any) => m.mountPath.includes('serviceaccount')),
      ).toEqual([]);
      expect(
        (pod.spec.volumes ?? []).filter((v: any) =>
          v.projected?.sources?.some((s: any) => s.serviceAccountToken),
        ),
      ).toEqual([]);
    }
  });

  it("refuses at the dry run, with the API server's words, a pod spec that the namespace's PodSecurity flags", async () => {
    // The plugin checks the baseline profile; a namespace may demand more.
    const original = (
      await kubectlJson(harness.cluster, ['get', 'namespace', 'dev'])
    ).metadata.labels['pod-security.kubernetes.io/warn'];
    await labelDev('warn', 'restricted');
    try {
      const release = await createRelease(restricted, '1.0.0');
      expect(release.status).toBe(201);
      const before = await clusterSnapshot(harness.cluster, ['dev']);
      const res = await deployToDev(restricted, '1.0.0');
      expect(res.status).toBe(400);
      expect(res.body.error.message).toContain(
        `Deployment "${restrictedName}"`,
      );
      expect(res.body.error.message).toContain(
        'would violate PodSecurity "restricted:latest"',
      );
      expect(res.body.error.message).toContain(
        'allowPrivilegeEscalation != false',
      );
      expect(await clusterSnapshot(harness.cluster, ['dev'])).toEqual(before);
      expect(
        await knex('kd_deployments').where({ entity_ref: refOf(restricted) }),
      ).toEqual([]);
    } finally {
      await labelDev('warn', original ?? null);
    }
  });

  it('refuses to deploy into a namespace that does not enforce PodSecurity, naming the way out', async () => {
    const entity = restricted;
    const release = await createRelease(entity, '2.0.0');
    expect(release.status).toBe(201);
    for (const value of [null, 'privileged']) {
      await labelDev('enforce', value);
      try {
        const res = await deployToDev(entity, '2.0.0');
        expect(res.status).toBe(409);
        expect(res.body.error.message).toContain(
          'Namespace "dev" of environment "dev" does not enforce PodSecurity',
        );
        expect(res.body.error.message).toContain(
          'allowNamespaceWithoutPodSecurity',
        );
      } finally {
        await labelDev('enforce', 'baseline');
      }
    }
    expect(
      await knex('kd_deployments').where({ entity_ref: refOf(entity) }),
    ).toEqual([]);
  });

  it("corrects drift on the entity's own objects and names whose change it overwrote", async () => {
    const patched = await harness.cluster.kubectl([
      '-n',
      'dev',
      'patch',
      'deployment',
      name,
      '--type=merge',
      '-p',
      '{"spec":{"template":{"spec":{"terminationGracePeriodSeconds":30}}}}',
    ]);
    expect(patched.code).toBe(0);
    const restart = await harness.delivery.restart({
      entity: victim,
      entityRef: victimRef,
      environment: 'dev',
      createdBy: 'user:default/ada',
    });
    const done = await harness.settle(restart.id);
    expect(done.status).toBe('succeeded');
    const apply = done.steps.find(step => step.name === 'Apply');
    expect(apply?.message).toContain(
      `put back as released what others had changed: Deployment/${name} (changed by kubectl-patch)`,
    );
    const live = await kubectlJson(harness.cluster, [
      '-n',
      'dev',
      'get',
      'deployment',
      name,
    ]);
    expect(live.spec.template.spec.terminationGracePeriodSeconds).toBe(5);
  });
});
