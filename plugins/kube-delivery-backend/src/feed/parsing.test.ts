import { InputError } from '@backstage/errors';
import { parseWwwAuthenticate } from './challenge';
import { nextLink } from './ContainerFeed';
import { assertTag, parseImageRepository } from './imageReference';

describe('parseWwwAuthenticate', () => {
  it('reads a Docker token challenge', () => {
    expect(
      parseWwwAuthenticate(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/nginx:pull',
        },
      },
    ]);
  });

  it('reads several challenges, token values, escapes and an error', () => {
    expect(
      parseWwwAuthenticate(
        'Basic realm="a \\"quoted\\" realm", Bearer realm=https://x.example/t, error="insufficient_scope"',
      ),
    ).toEqual([
      { scheme: 'basic', params: { realm: 'a "quoted" realm' } },
      {
        scheme: 'bearer',
        params: { realm: 'https://x.example/t', error: 'insufficient_scope' },
      },
    ]);
  });

  it('survives nonsense', () => {
    expect(parseWwwAuthenticate(null)).toEqual([]);
    expect(parseWwwAuthenticate('')).toEqual([]);
    expect(parseWwwAuthenticate('Negotiate abc==')).toEqual([
      { scheme: 'negotiate', params: {} },
    ]);
    expect(parseWwwAuthenticate('Bearer realm="unterminated')).toEqual([
      { scheme: 'bearer', params: {} },
    ]);
    expect(() => parseWwwAuthenticate('"'.repeat(100_000))).not.toThrow();
  });
});

describe('nextLink', () => {
  const base = 'https://r.example/v2/team/app/tags/list?n=2';
  it('resolves a relative next link', () => {
    expect(
      nextLink('</v2/team/app/tags/list?n=2&last=b>; rel="next"', base),
    ).toBe('https://r.example/v2/team/app/tags/list?n=2&last=b');
  });
  it('picks the next link among others, and ignores the rest', () => {
    expect(
      nextLink(
        '<https://r.example/a>; rel="prev", <https://r.example/b>; rel=next',
        base,
      ),
    ).toBe('https://r.example/b');
    expect(nextLink('<https://r.example/a>; rel="prev"', base)).toBeUndefined();
    expect(nextLink(null, base)).toBeUndefined();
    expect(nextLink('garbage', base)).toBeUndefined();
  });
});

describe('parseImageRepository', () => {
  it('splits the registry host from the path', () => {
    expect(parseImageRepository('127.0.0.1:5000/team/app')).toEqual({
      host: '127.0.0.1:5000',
      path: 'team/app',
      explicitHost: true,
    });
    expect(parseImageRepository('Registry.Example.com/a/b/c')).toEqual({
      host: 'registry.example.com',
      path: 'a/b/c',
      explicitHost: true,
    });
    expect(parseImageRepository('localhost/app').host).toBe('localhost');
  });

  it('gives unqualified images to Docker Hub, official ones under library/', () => {
    expect(
      parseImageRepository('octopussamples/microservicedemo-adservice'),
    ).toEqual({
      host: 'docker.io',
      path: 'octopussamples/microservicedemo-adservice',
      explicitHost: false,
    });
    expect(parseImageRepository('nginx').path).toBe('library/nginx');
  });

  it('rejects tags, digests and invalid names', () => {
    for (const bad of [
      'r.example/app:1.0',
      'app:1.0',
      'r.example/app@sha256:abc',
      'r.example/App',
      'r.example/app/',
      'r.example//app',
      'r.example/a..b',
      'bad_host.example/app',
      'r.example:99999/app',
      `r.example/${'a'.repeat(300)}`,
      ' r.example/app',
      '',
    ]) {
      expect(() => parseImageRepository(bad)).toThrow(InputError);
    }
    expect(() => parseImageRepository(42)).toThrow(InputError);
  });

  it('checks tags', () => {
    expect(() => assertTag('0.1.4-myfeature')).not.toThrow();
    expect(() => assertTag('latest')).not.toThrow();
    for (const bad of ['', '.x', '-x', 'a/b', 'a:b', 'x'.repeat(129), 7]) {
      expect(() => assertTag(bad)).toThrow(InputError);
    }
  });
});
