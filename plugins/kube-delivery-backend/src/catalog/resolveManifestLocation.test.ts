import type { Entity } from '@backstage/catalog-model';
import { InputError } from '@backstage/errors';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  readManifestFile,
  resolveManifestLocation,
} from './resolveManifestLocation';

function entity(annotations: Record<string, string>): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: { name: 'adservice', annotations },
  };
}

const githubFile =
  'url:https://github.com/org/shop/blob/main/services/adservice/catalog-info.yaml';

describe('resolveManifestLocation', () => {
  it.each([
    [
      githubFile,
      './k8s/adservice.yaml',
      'https://github.com/org/shop/blob/main/services/adservice/k8s/adservice.yaml',
    ],
    [
      githubFile,
      'adservice.yaml',
      'https://github.com/org/shop/blob/main/services/adservice/adservice.yaml',
    ],
    [
      'url:https://git.example.com/raw/catalog-info.yaml?ref=main',
      'k8s/a.yaml',
      'https://git.example.com/raw/k8s/a.yaml',
    ],
    [
      'file:/srv/catalog/adservice/catalog-info.yaml',
      './k8s/adservice.yaml',
      'file:/srv/catalog/adservice/k8s/adservice.yaml',
    ],
    ['file:/catalog-info.yaml', 'a.yaml', 'file:/a.yaml'],
  ])('resolves %s + %s', (location, manifest, expected) => {
    expect(
      resolveManifestLocation(
        entity({ 'backstage.io/managed-by-location': location }),
        manifest,
      ),
    ).toBe(expected);
  });

  it('returns absolute URLs unchanged', () => {
    const url = 'https://raw.example.com/k8s/adservice.yaml';
    expect(resolveManifestLocation(entity({}), url)).toBe(url);
  });

  it('prefers the managed-by location over the origin location', () => {
    expect(
      resolveManifestLocation(
        entity({
          'backstage.io/managed-by-origin-location':
            'url:https://github.com/org/root/blob/main/all.yaml',
          'backstage.io/managed-by-location': githubFile,
        }),
        'k.yaml',
      ),
    ).toBe('https://github.com/org/shop/blob/main/services/adservice/k.yaml');
    expect(
      resolveManifestLocation(
        entity({
          'backstage.io/managed-by-origin-location':
            'url:https://github.com/org/root/blob/main/all.yaml',
        }),
        'k.yaml',
      ),
    ).toBe('https://github.com/org/root/blob/main/k.yaml');
  });

  it.each([
    [{}, 'k8s/a.yaml', /no backstage.io\/managed-by-location/],
    [
      { 'backstage.io/managed-by-location': 'nonsense' },
      'a.yaml',
      /not a valid location/,
    ],
    [
      { 'backstage.io/managed-by-location': 'url:not a url' },
      'a.yaml',
      /not a valid URL/,
    ],
    [
      { 'backstage.io/managed-by-location': 'url:ftp://h/c.yaml' },
      'a.yaml',
      /not an http\(s\) URL/,
    ],
    [
      { 'backstage.io/managed-by-location': 'file:relative/c.yaml' },
      'a.yaml',
      /not an absolute file path/,
    ],
    [
      { 'backstage.io/managed-by-location': 'github:x' },
      'a.yaml',
      /"github" location/,
    ],
    [
      { 'backstage.io/managed-by-location': githubFile },
      '../a.yaml',
      /relative path inside/,
    ],
    [
      { 'backstage.io/managed-by-location': 'file:/srv/c/catalog-info.yaml' },
      '../../etc/passwd',
      /relative path inside/,
    ],
    [
      { 'backstage.io/managed-by-location': githubFile },
      '%2e%2e/a.yaml',
      /relative path inside/,
    ],
    [
      { 'backstage.io/managed-by-location': githubFile },
      '//evil.example.com/a.yaml',
      /relative path inside/,
    ],
  ])('rejects %j + %s', (annotations, manifest, message) => {
    expect(() =>
      resolveManifestLocation(
        entity(annotations as Record<string, string>),
        manifest,
      ),
    ).toThrow(InputError);
    expect(() =>
      resolveManifestLocation(
        entity(annotations as Record<string, string>),
        manifest,
      ),
    ).toThrow(message);
  });
});

describe('readManifestFile', () => {
  const LIMIT = 1024;
  let root: string;
  let catalogDir: string;
  let outside: string;

  /** An entity whose catalog file is catalogDir/catalog-info.yaml (or `catalogFile`). */
  const fileEntity = (
    catalogFile = path.join(catalogDir, 'catalog-info.yaml'),
  ) => entity({ 'backstage.io/managed-by-location': `file:${catalogFile}` });

  const refusal = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InputError);
    return (error as Error).message;
  };

  beforeEach(() => {
    // Real-pathed: os.tmpdir() may itself lie under a link (macOS /var).
    root = fs.realpathSync(
      fs.mkdtempSync(path.join(os.tmpdir(), 'kd-manifest-')),
    );
    catalogDir = path.join(root, 'catalog');
    outside = path.join(root, 'elsewhere');
    fs.mkdirSync(path.join(catalogDir, 'k8s'), { recursive: true });
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(catalogDir, 'k8s', 'app.yaml'), 'kind: A\n');
    fs.writeFileSync(path.join(outside, 'secret.yaml'), 'kind: Secret\n');
  });
  afterEach(() => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('reads a file inside the directory, also through links that stay inside', async () => {
    fs.symlinkSync('k8s/app.yaml', path.join(catalogDir, 'link.yaml'));
    fs.symlinkSync(path.join(catalogDir, 'k8s'), path.join(catalogDir, 'dir'));
    for (const manifest of ['./k8s/app.yaml', 'link.yaml', 'dir/app.yaml']) {
      expect(
        (await readManifestFile(fileEntity(), manifest, LIMIT)).toString(),
      ).toBe('kind: A\n');
    }
  });

  it('reads a catalog whose directory lies under a link', async () => {
    fs.symlinkSync(catalogDir, path.join(root, 'alias'));
    const catalogFile = path.join(root, 'alias', 'catalog-info.yaml');
    expect(
      (
        await readManifestFile(fileEntity(catalogFile), 'k8s/app.yaml', LIMIT)
      ).toString(),
    ).toBe('kind: A\n');
  });

  it('refuses a link to a file outside the directory, and one under a linked directory', async () => {
    fs.symlinkSync(
      path.join(outside, 'secret.yaml'),
      path.join(catalogDir, 'app.yaml'),
    );
    fs.symlinkSync('../elsewhere', path.join(catalogDir, 'up'));
    for (const manifest of ['app.yaml', 'up/secret.yaml']) {
      expect(
        await refusal(readManifestFile(fileEntity(), manifest, LIMIT)),
      ).toMatch(/leads outside the directory of the catalog file/);
    }
  });

  it('says the same of a link to nothing, so that no file elsewhere can be probed', async () => {
    fs.symlinkSync(
      path.join(outside, 'missing.yaml'),
      path.join(catalogDir, 'dangling.yaml'),
    );
    fs.symlinkSync('../elsewhere', path.join(catalogDir, 'up'));
    const present = await refusal(
      readManifestFile(fileEntity(), 'up/secret.yaml', LIMIT),
    );
    const absent = await refusal(
      readManifestFile(fileEntity(), 'up/missing.yaml', LIMIT),
    );
    expect(absent.replace('missing', 'secret')).toBe(present);
    expect(
      await refusal(readManifestFile(fileEntity(), 'dangling.yaml', LIMIT)),
    ).toMatch(/leads outside the directory of the catalog file, or to nothing/);
    expect(
      await refusal(readManifestFile(fileEntity(), 'k8s/none.yaml', LIMIT)),
    ).toMatch(
      /does not exist\. Point kube-delivery\.io\/manifest at a YAML file/,
    );
  });

  it('refuses a link to /dev/zero without reading from it', async () => {
    fs.symlinkSync('/dev/zero', path.join(catalogDir, 'zero.yaml'));
    expect(
      await refusal(readManifestFile(fileEntity(), 'zero.yaml', LIMIT)),
    ).toMatch(/leads outside the directory/);
  });

  it('refuses a device, a FIFO and a directory inside the directory as not a regular file', async () => {
    // A catalog file in /dev: its directory holds devices.
    expect(
      await refusal(
        readManifestFile(fileEntity('/dev/catalog-info.yaml'), 'zero', LIMIT),
      ),
    ).toMatch(/is not a regular file \(a directory, a device or a FIFO\)/);
    // A FIFO without a writer: opening it for reading would block forever.
    execFileSync('mkfifo', [path.join(catalogDir, 'fifo.yaml')]);
    fs.symlinkSync('fifo.yaml', path.join(catalogDir, 'to-fifo.yaml'));
    for (const manifest of ['fifo.yaml', 'to-fifo.yaml', 'k8s']) {
      expect(
        await refusal(readManifestFile(fileEntity(), manifest, LIMIT)),
      ).toMatch(/is not a regular file/);
    }
  });

  it('refuses a file larger than the limit, and reads one of exactly the limit', async () => {
    fs.writeFileSync(path.join(catalogDir, 'big.yaml'), 'a'.repeat(LIMIT + 1));
    expect(
      await refusal(readManifestFile(fileEntity(), 'big.yaml', LIMIT)),
    ).toMatch(`is ${LIMIT + 1} bytes; the limit is ${LIMIT}`);
    fs.writeFileSync(path.join(catalogDir, 'full.yaml'), 'a'.repeat(LIMIT));
    expect(
      await readManifestFile(fileEntity(), 'full.yaml', LIMIT),
    ).toHaveLength(LIMIT);
  });
});
