import { mockServices } from '@backstage/backend-test-utils';
import { ConfigReader } from '@backstage/config';
import { NotAllowedError } from '@backstage/errors';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adserviceManifest } from '../__testUtils__/boutiqueManifests';
import { entityWithManifest, uniqueName } from '../__testUtils__/deliveryHarness';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { DatabaseDeliveryStore } from '../database';
import { createContainerFeed } from '../feed';
import {
  basicAuthorization,
  pushImage,
  startRegistry,
  stopRegistries,
  type RegistryEnv,
} from '../feed/__testUtils__/testRegistry';
import { ReleaseService } from './ReleaseService';

jest.setTimeout(300_000);

const user = 'kd-releases';
const password = `pw-${randomUUID()}`;
const scriptEnv = {
  KD_REGISTRY_DIR: mkdtempSync(join(tmpdir(), 'kd-feed-release-')),
  KD_REGISTRY_USER: user,
  KD_REGISTRY_PASSWORD: password,
};
const channels = [
  { name: 'default', prerelease: '^$' },
  { name: 'feature-branch', prerelease: '.+', environments: ['dev', 'test'] },
];

describe('releases from the container feed (a real registry)', () => {
  const databases = createTestDatabases();
  let registry: RegistryEnv;
  let store: DatabaseDeliveryStore;
  const name = uniqueName('adservice');
  const repository = `boutique/${name}`;
  const digests = new Map<string, string>();

  beforeAll(async () => {
    registry = await startRegistry('basic', scriptEnv);
    for (const tag of ['0.1.2', '0.1.10', '0.1.4-myfeature', 'latest', 'v-bad']) {
      digests.set(
        tag,
        await pushImage({
          url: registry.KD_REGISTRY_URL,
          repository,
          tag,
          layerContent: `layer of ${tag}`,
          authorization: basicAuthorization(user, password),
        }),
      );
    }
    store = await DatabaseDeliveryStore.create({
      database: { getClient: async () => databases.init('SQLITE_3') } as any,
    });
  });
  afterAll(async () => {
    await stopRegistries(scriptEnv);
  });

  const releasesWith = (registryPassword: string) =>
    new ReleaseService({
      store,
      urlReader: mockServices.urlReader.mock(),
      channels,
      feed: createContainerFeed(
        new ConfigReader({
          kubeDelivery: {
            registries: [
              {
                host: registry.KD_REGISTRY_HOST,
                url: registry.KD_REGISTRY_URL,
                username: user,
                password: registryPassword,
              },
            ],
          },
        }),
      ),
    });

  const entity = () =>
    entityWithManifest({
      name,
      manifest: adserviceManifest(name),
      annotations: { 'kube-delivery.io/image': `${registry.KD_REGISTRY_HOST}/${repository}` },
    }).entity;

  it('lists SemVer tags newest first and pins the digest of the chosen one', async () => {
    const releases = releasesWith(password);
    const tags = await releases.listFeed(entity());
    expect(tags.map(t => t.tag)).toEqual(['0.1.10', '0.1.4-myfeature', '0.1.2']);

    const release = await releases.createReleaseFromFeed({
      entity: entity(),
      tag: '0.1.10',
      createdBy: 'service:ci',
    });
    expect(release.version).toBe('0.1.10');
    expect(release.imageRef).toBe(
      `${registry.KD_REGISTRY_HOST}/${repository}:0.1.10@${digests.get('0.1.10')}`,
    );
  });

  it('says so when the registry refuses the credentials, and creates no release', async () => {
    const releases = releasesWith('wrong-password');
    const attempt = releases.createReleaseFromFeed({
      entity: entity(),
      tag: '0.1.2',
      createdBy: 'service:ci',
    });
    await expect(attempt).rejects.toBeInstanceOf(NotAllowedError);
    await expect(attempt).rejects.toThrow(
      `registry ${registry.KD_REGISTRY_HOST} refused the credentials configured for it (401)`,
    );
    expect(await store.findRelease(`component:default/${name}`, '0.1.2')).toBeUndefined();
  });
});
