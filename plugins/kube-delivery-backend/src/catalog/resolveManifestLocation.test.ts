import type { Entity } from '@backstage/catalog-model';
import { InputError } from '@backstage/errors';
import { resolveManifestLocation } from './resolveManifestLocation';

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
