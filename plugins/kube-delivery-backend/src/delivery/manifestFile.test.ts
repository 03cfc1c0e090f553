import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { getDevCluster } from '@internal/devcluster';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { adserviceManifest } from '../__testUtils__/boutiqueManifests';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import {
  entityWithManifest,
  uniqueName,
} from '../__testUtils__/deliveryHarness';
import { printFigures } from '../__testUtils__/figures';
import { MutableCatalog } from '../__testUtils__/mutableCatalog';
import { manualScheduler } from '../__testUtils__/routingScenario';
import { createTestDatabases } from '../__testUtils__/testDatabases';

jest.setTimeout(120_000);

/*
 * The manifest file of a `file:` location, through the HTTP API of the real
 * plugin: whoever registers the catalog file controls the files next to it,
 * links included. A link must not make the backend read a file elsewhere on
 * its host, nor a device or a FIFO (which never end, or block).
 */

const API = '/api/kube-delivery';
const asUser = mockCredentials.user.header();

describe('manifest files of file locations, through the HTTP API', () => {
  const databases = createTestDatabases();
  const catalog = new MutableCatalog();
  const elapsed: Record<string, number> = {};
  let backend: TestBackend;
  let elsewhere: string;
  /** The catalog directories the tests made, removed in the end. */
  const directories: string[] = [];

  beforeAll(async () => {
    const cluster = await getDevCluster();
    const knex = await databases.init('SQLITE_3');
    backend = await startDeliveryBackend({
      cluster,
      knex,
      entities: [],
      catalog,
      permission: AuthorizeResult.ALLOW,
      // Scheduled tasks never run: only the requests act.
      features: [manualScheduler().factory],
    });
    elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'kd-elsewhere-'));
  });

  afterAll(async () => {
    printFigures('manifest files', elapsed);
    await backend?.stop();
    for (const directory of [elsewhere, ...directories]) {
      if (directory) fs.rmSync(directory, { recursive: true, force: true });
    }
  });

  /**
   * A catalog service whose catalog file is in a directory of its own; its
   * manifest annotation names `deploy.yaml` there, which `arrange` replaces.
   */
  function service(
    arrange: (deployYaml: string, name: string) => void,
    annotations?: Record<string, string>,
  ): { name: string; directory: string } {
    const name = uniqueName('manifest');
    const { entity } = entityWithManifest({
      name,
      manifest: adserviceManifest(name),
    });
    const location =
      entity.metadata.annotations!['backstage.io/managed-by-location'];
    const directory = path.dirname(location.slice('file:'.length));
    const deployYaml = path.join(directory, 'deploy.yaml');
    directories.push(directory);
    fs.rmSync(deployYaml);
    arrange(deployYaml, name);
    Object.assign(entity.metadata.annotations!, annotations);
    catalog.set(entity);
    return { name, directory };
  }

  async function createRelease(name: string, what: string) {
    const started = performance.now();
    const res = await request(backend.server)
      .post(`${API}/entities/component/default/${name}/releases`)
      .set('Authorization', asUser)
      .send({ version: '0.1.3' });
    elapsed[`${what}Ms`] = Math.round(performance.now() - started);
    return res;
  }

  async function releaseVersions(name: string) {
    const res = await request(backend.server)
      .get(`${API}/entities/component/default/${name}/releases`)
      .set('Authorization', asUser);
    expect(res.status).toBe(200);
    return res.body.items.map((r: { version: string }) => r.version);
  }

  it('creates a release from a manifest in the directory, also through a link that stays inside', async () => {
    const { name } = service((deployYaml, serviceName) => {
      const real = path.join(path.dirname(deployYaml), 'k8s', 'app.yaml');
      fs.mkdirSync(path.dirname(real));
      fs.writeFileSync(real, adserviceManifest(serviceName));
      fs.symlinkSync('k8s/app.yaml', deployYaml);
    });
    const res = await createRelease(name, 'linkInside');
    expect(res.status).toBe(201);
    expect(await releaseVersions(name)).toEqual(['0.1.3']);
  });

  it('refuses a manifest that links to a valid manifest outside the catalog directory, with a 400', async () => {
    const { name } = service((deployYaml, serviceName) => {
      // A valid manifest: read, it would make a release.
      const target = path.join(elsewhere, `${serviceName}.yaml`);
      fs.writeFileSync(target, adserviceManifest(serviceName));
      fs.symlinkSync(target, deployYaml);
    });
    const res = await createRelease(name, 'linkOutside');
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(
      /^The manifest "\.\/deploy\.yaml" of manifest-\w+ is a symbolic link \(or lies under one\) that leads outside the directory of the catalog file, or to nothing\. Point kube-delivery\.io\/manifest at a YAML file/,
    );
    expect(await releaseVersions(name)).toEqual([]);
  });

  it('refuses a manifest that links to /dev/zero, with a 400, without reading it', async () => {
    const { name } = service(deployYaml =>
      fs.symlinkSync('/dev/zero', deployYaml),
    );
    const res = await createRelease(name, 'linkToDevZero');
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/leads outside the directory/);
    expect(await releaseVersions(name)).toEqual([]);
  });

  it('refuses a device in the catalog directory, with a 400 saying it is not a regular file', async () => {
    // A catalog file in /dev: the manifest names the device itself.
    const { name } = service(() => {}, {
      'backstage.io/managed-by-location': 'file:/dev/catalog-info.yaml',
      'kube-delivery.io/manifest': 'zero',
    });
    const res = await createRelease(name, 'devZero');
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(
      /^The manifest "zero" of manifest-\w+ is not a regular file \(a directory, a device or a FIFO\)\. Point kube-delivery\.io\/manifest at a YAML file of at most 256 KiB/,
    );
    expect(await releaseVersions(name)).toEqual([]);
  });

  it('refuses a FIFO in the catalog directory, with a 400, instead of waiting for a writer', async () => {
    const { name } = service(deployYaml =>
      execFileSync('mkfifo', [deployYaml]),
    );
    const res = await createRelease(name, 'fifo');
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/is not a regular file/);
    expect(await releaseVersions(name)).toEqual([]);
  }, 30_000);

  it('refuses a manifest file larger than 256 KiB without reading it', async () => {
    const { name } = service(deployYaml =>
      fs.writeFileSync(deployYaml, `# ${'x'.repeat(256 * 1024)}\n`),
    );
    const res = await createRelease(name, 'tooLarge');
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(
      /is 262147 bytes; the limit is 262144/,
    );
  });
});
