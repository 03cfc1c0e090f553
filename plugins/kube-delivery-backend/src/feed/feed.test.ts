/**
 * The container feed against real registries (Debian's docker-registry,
 * distribution 2.8) started by scripts/registry.sh: one with htpasswd basic
 * auth, one with the Docker token flow (the token service is this test's),
 * and one anonymous. Images are pushed with plain Distribution API calls.
 * When a registry cannot be started, every test here fails.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigReader } from '@backstage/config';
import {
  InputError,
  NotAllowedError,
  NotFoundError,
  ServiceUnavailableError,
} from '@backstage/errors';
import { createContainerFeed, type ContainerFeedOptions } from '.';
import {
  basicAuthorization,
  closedPort,
  mintToken,
  PagingProxy,
  pushImage,
  startRegistry,
  stopRegistries,
  TestTokenServer,
  type RegistryEnv,
  type TokenIssuer,
} from './__testUtils__/testRegistry';

const REPOSITORY = 'team/adservice';
const TAGS = [
  '0.1.2',
  '0.1.10',
  '0.1.4-myfeature',
  'latest',
  'v-bad',
  'v1.2.3',
];
const EXPECTED = ['0.1.10', '0.1.4-myfeature', '0.1.2'];

const dir = mkdtempSync(join(tmpdir(), 'kd-registry-test-'));
const user = 'kd-feed';
const password = `pw-${randomUUID()}`;
const scriptEnv = {
  KD_REGISTRY_DIR: dir,
  KD_REGISTRY_USER: user,
  KD_REGISTRY_PASSWORD: password,
};

let basic: RegistryEnv;
let anonymous: RegistryEnv;
let token: RegistryEnv;
let issuer: TokenIssuer;
let tokenServer: TestTokenServer | undefined;
/** Digests the pushes returned, by registry host and tag. */
const pushed = new Map<string, Map<string, string>>();

function feedFor(
  registries: Array<Record<string, string>>,
  options?: ContainerFeedOptions,
) {
  return createContainerFeed(
    new ConfigReader({ kubeDelivery: { registries } }),
    options,
  );
}

function basicEntry(overrides: Record<string, string> = {}) {
  return {
    host: basic.KD_REGISTRY_HOST,
    url: basic.KD_REGISTRY_URL,
    username: user,
    password,
    ...overrides,
  };
}

async function pushAll(env: RegistryEnv, authorization?: string) {
  const digests = new Map<string, string>();
  for (const tag of TAGS) {
    digests.set(
      tag,
      await pushImage({
        url: env.KD_REGISTRY_URL,
        repository: REPOSITORY,
        tag,
        layerContent: `layer of ${tag} in ${env.KD_REGISTRY_HOST}`,
        authorization,
      }),
    );
  }
  pushed.set(env.KD_REGISTRY_HOST, digests);
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a failure');
}

beforeAll(async () => {
  tokenServer = await TestTokenServer.start(user, password);
  // One after the other: each start picks the first free port.
  basic = await startRegistry('basic', scriptEnv);
  anonymous = await startRegistry('anonymous', scriptEnv);
  token = await startRegistry('token', {
    ...scriptEnv,
    KD_REGISTRY_TOKEN_REALM: tokenServer.url,
  });
  issuer = {
    keyFile: token.KD_REGISTRY_TOKEN_KEY!,
    certFile: token.KD_REGISTRY_TOKEN_CERT!,
    service: token.KD_REGISTRY_TOKEN_SERVICE!,
    issuer: token.KD_REGISTRY_TOKEN_ISSUER!,
  };
  tokenServer.useIssuer(issuer);

  await pushAll(basic, basicAuthorization(user, password));
  await pushAll(anonymous);
  const pushToken = mintToken(issuer, [
    { type: 'repository', name: REPOSITORY, actions: ['pull', 'push'] },
  ]);
  await pushAll(token, `Bearer ${pushToken}`);
}, 300_000);

afterAll(async () => {
  try {
    await stopRegistries(scriptEnv);
  } finally {
    await tokenServer?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);

describe('basic auth registry', () => {
  const image = () => `${basic.KD_REGISTRY_HOST}/${REPOSITORY}`;

  it('lists the SemVer tags only, newest first', async () => {
    const tags = await feedFor([basicEntry()]).listTags(image());
    expect(tags).toEqual(EXPECTED.map(tag => ({ tag, version: tag })));
  });

  it('resolves the digest the push returned', async () => {
    const feed = feedFor([basicEntry()]);
    const digests = pushed.get(basic.KD_REGISTRY_HOST)!;
    expect(await feed.resolveDigest(image(), '0.1.10')).toBe(
      digests.get('0.1.10'),
    );
    expect(await feed.resolveDigest(image(), '0.1.4-myfeature')).toBe(
      digests.get('0.1.4-myfeature'),
    );
    expect(digests.get('0.1.10')).not.toBe(digests.get('0.1.4-myfeature'));
  });

  it('computes the digest from the manifest when the registry does not send it', async () => {
    const withoutDigest: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      const headers = new Headers(response.headers);
      headers.delete('docker-content-digest');
      return new Response(init?.method === 'HEAD' ? null : response.body, {
        status: response.status,
        headers,
      });
    };
    const feed = feedFor([basicEntry()], { fetch: withoutDigest });
    expect(await feed.resolveDigest(image(), '0.1.2')).toBe(
      pushed.get(basic.KD_REGISTRY_HOST)!.get('0.1.2'),
    );
  });

  it('follows Link headers page by page', async () => {
    // distribution 2.8 ignores `n` and answers every tag at once:
    expect(
      (await feedFor([basicEntry()], { pageSize: 2 }).listTags(image())).map(
        t => t.tag,
      ),
    ).toEqual(EXPECTED);
    // A proxy that pages as the spec describes, over the real registry's data and auth.
    const proxy = await PagingProxy.start(basic.KD_REGISTRY_URL);
    try {
      const tagRequests: string[] = [];
      const counting: typeof fetch = async (input, init) => {
        const url = String(input);
        if (url.includes('/tags/list')) tagRequests.push(url);
        return fetch(input, init);
      };
      const entry = basicEntry({ host: proxy.host, url: proxy.url });
      const tags = await feedFor([entry], {
        fetch: counting,
        pageSize: 2,
      }).listTags(`${proxy.host}/${REPOSITORY}`);
      expect(tags.map(t => t.tag)).toEqual(EXPECTED);
      // Six tags, two a page; the first page was asked twice (before and after the 401).
      expect(new Set(tagRequests)).toEqual(
        new Set([
          `${proxy.url}/v2/${REPOSITORY}/tags/list?n=2`,
          `${proxy.url}/v2/${REPOSITORY}/tags/list?n=2&last=0.1.2`,
          `${proxy.url}/v2/${REPOSITORY}/tags/list?n=2&last=latest`,
        ]),
      );

      const error = await failure(
        feedFor([entry], { pageSize: 1, maxPages: 2 }).listTags(
          `${proxy.host}/${REPOSITORY}`,
        ),
      );
      expect(error.message).toMatch(/more than 2 pages of tags/);
    } finally {
      await proxy.close();
    }
  });

  it('does not follow a next page to another origin', async () => {
    const proxy = await PagingProxy.start(basic.KD_REGISTRY_URL, {
      nextOrigin: 'http://attacker.example',
    });
    try {
      const entry = basicEntry({ host: proxy.host, url: proxy.url });
      const error = await failure(
        feedFor([entry], { pageSize: 2 }).listTags(
          `${proxy.host}/${REPOSITORY}`,
        ),
      );
      expect(error.message).toMatch(
        /sent the next page of tags of team\/adservice to another origin/,
      );
    } finally {
      await proxy.close();
    }
  });

  it('says the registry refused the credentials, and never repeats them', async () => {
    const error = await failure(
      feedFor([basicEntry({ password: 'wrong-password' })]).listTags(image()),
    );
    expect(error).toBeInstanceOf(NotAllowedError);
    expect(error.message).toBe(
      `registry ${basic.KD_REGISTRY_HOST} refused the credentials configured for it (401)`,
    );
    expect(
      JSON.stringify({ ...error, message: error.message, stack: error.stack }),
    ).not.toContain('wrong-password');
    const digestError = await failure(
      feedFor([basicEntry({ password: 'wrong-password' })]).resolveDigest(
        image(),
        '0.1.2',
      ),
    );
    expect(digestError).toBeInstanceOf(NotAllowedError);
  });

  it('says credentials are needed when none are configured', async () => {
    const error = await failure(
      feedFor([
        { host: basic.KD_REGISTRY_HOST, url: basic.KD_REGISTRY_URL },
      ]).listTags(image()),
    );
    expect(error).toBeInstanceOf(NotAllowedError);
    expect(error.message).toMatch(
      /requires credentials .* none are configured/,
    );
  });

  it('answers NotFoundError for an unknown repository or tag', async () => {
    const feed = feedFor([basicEntry()]);
    const error = await failure(
      feed.listTags(`${basic.KD_REGISTRY_HOST}/team/no-such-service`),
    );
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.message).toBe(
      `repository team/no-such-service was not found in registry ${basic.KD_REGISTRY_HOST}`,
    );
    const tagError = await failure(feed.resolveDigest(image(), '9.9.9'));
    expect(tagError).toBeInstanceOf(NotFoundError);
    expect(tagError.message).toMatch(
      /tag 9\.9\.9 of team\/adservice was not found/,
    );
  });

  it('fails on a response larger than the cap', async () => {
    const error = await failure(
      feedFor([basicEntry()], { maxResponseBytes: 20 }).listTags(image()),
    );
    expect(error.message).toMatch(
      /answered more than 20 bytes for tags of team\/adservice/,
    );
  });
});

describe('token flow registry', () => {
  const image = () => `${token.KD_REGISTRY_HOST}/${REPOSITORY}`;
  const entry = (overrides: Record<string, string> = {}) => ({
    host: token.KD_REGISTRY_HOST,
    url: token.KD_REGISTRY_URL,
    username: user,
    password,
    ...overrides,
  });

  it('gets a token with the configured credentials, and reuses it', async () => {
    const feed = feedFor([entry()]);
    const before = tokenServer!.requests;
    expect((await feed.listTags(image())).map(t => t.tag)).toEqual(EXPECTED);
    expect(await feed.resolveDigest(image(), '0.1.10')).toBe(
      pushed.get(token.KD_REGISTRY_HOST)!.get('0.1.10'),
    );
    expect(await feed.listTags(image())).toHaveLength(3);
    // One token for the repository's pull scope, reused by the later requests.
    expect(tokenServer!.requests - before).toBe(1);
  });

  it('says the registry refused the credentials', async () => {
    const error = await failure(
      feedFor([entry({ password: 'wrong-password' })]).listTags(image()),
    );
    expect(error).toBeInstanceOf(NotAllowedError);
    expect(error.message).toBe(
      `registry ${token.KD_REGISTRY_HOST} refused the credentials configured for it (401)`,
    );
  });

  it('says credentials are needed when an anonymous token grants nothing', async () => {
    const error = await failure(
      feedFor([
        { host: token.KD_REGISTRY_HOST, url: token.KD_REGISTRY_URL },
      ]).listTags(image()),
    );
    expect(error).toBeInstanceOf(NotAllowedError);
    expect(error.message).toMatch(
      /requires credentials .* none are configured/,
    );
  });

  it('uses a configured bearer token as it is', async () => {
    const pullToken = mintToken(issuer, [
      { type: 'repository', name: REPOSITORY, actions: ['pull'] },
    ]);
    const feed = feedFor([
      {
        host: token.KD_REGISTRY_HOST,
        url: token.KD_REGISTRY_URL,
        token: pullToken,
      },
    ]);
    expect((await feed.listTags(image())).map(t => t.tag)).toEqual(EXPECTED);

    const otherRepository = mintToken(issuer, [
      { type: 'repository', name: 'team/other', actions: ['pull'] },
    ]);
    const error = await failure(
      feedFor([
        {
          host: token.KD_REGISTRY_HOST,
          url: token.KD_REGISTRY_URL,
          token: otherRepository,
        },
      ]).listTags(image()),
    );
    expect(error).toBeInstanceOf(NotAllowedError);
    expect(error.message).toMatch(
      /do not grant pull access to team\/adservice/,
    );
  });

  it('answers NotFoundError for an unknown repository', async () => {
    const error = await failure(
      feedFor([entry()]).listTags(
        `${token.KD_REGISTRY_HOST}/team/no-such-service`,
      ),
    );
    expect(error).toBeInstanceOf(NotFoundError);
  });
});

describe('anonymous registry', () => {
  it('lists tags and resolves digests without credentials', async () => {
    const feed = feedFor([
      { host: anonymous.KD_REGISTRY_HOST, url: anonymous.KD_REGISTRY_URL },
    ]);
    const image = `${anonymous.KD_REGISTRY_HOST}/${REPOSITORY}`;
    expect((await feed.listTags(image)).map(t => t.tag)).toEqual(EXPECTED);
    expect(await feed.resolveDigest(image, '0.1.4-myfeature')).toBe(
      pushed.get(anonymous.KD_REGISTRY_HOST)!.get('0.1.4-myfeature'),
    );
  });
});

describe('images and registries that cannot be used', () => {
  it('answers InputError for an image without a configured registry', async () => {
    const feed = feedFor([basicEntry()]);
    const unqualified = await failure(feed.listTags('octopussamples/x'));
    expect(unqualified).toBeInstanceOf(InputError);
    expect(unqualified.message).toMatch(
      /^no registry configured for image octopussamples\/x/,
    );
    const other = await failure(feed.listTags('registry.example.com/team/x'));
    expect(other).toBeInstanceOf(InputError);
    expect(other.message).toMatch(
      /^no registry configured for image registry\.example\.com\/team\/x/,
    );
  });

  it('answers InputError for hostile image names and tags', async () => {
    const feed = feedFor([basicEntry()]);
    for (const bad of [
      `${basic.KD_REGISTRY_HOST}/team/x:1.0.0`,
      `${basic.KD_REGISTRY_HOST}/team/../x`,
      `${basic.KD_REGISTRY_HOST}/Team/X`,
      `${basic.KD_REGISTRY_HOST}/team/x?n=1`,
      `${basic.KD_REGISTRY_HOST}/team/x@sha256:${'0'.repeat(64)}`,
      '',
    ]) {
      expect(await failure(feed.listTags(bad))).toBeInstanceOf(InputError);
    }
    for (const tag of ['../x', '', '-x', 'a/b', 'x'.repeat(129)]) {
      expect(
        await failure(
          feed.resolveDigest(`${basic.KD_REGISTRY_HOST}/${REPOSITORY}`, tag),
        ),
      ).toBeInstanceOf(InputError);
    }
  });

  it('says a registry is unreachable', async () => {
    const host = `127.0.0.1:${await closedPort()}`;
    const feed = feedFor([{ host, url: `http://${host}` }]);
    const error = await failure(feed.listTags(`${host}/team/x`));
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect(error.message).toBe(
      `registry ${host} (http://${host}) is unreachable for tags of team/x: ECONNREFUSED`,
    );
  });

  it('gives up on a registry that does not answer in time', async () => {
    const silent: Server = createServer(() => {
      /* never answers */
    });
    await new Promise<void>(done => silent.listen(0, '127.0.0.1', done));
    const { port } = silent.address() as AddressInfo;
    try {
      const host = `127.0.0.1:${port}`;
      const feed = feedFor([{ host, url: `http://${host}` }], {
        timeoutMs: 300,
      });
      const error = await failure(
        feed.resolveDigest(`${host}/team/x`, '0.1.2'),
      );
      expect(error).toBeInstanceOf(ServiceUnavailableError);
      expect(error.message).toMatch(
        /did not answer within 300 ms for manifest team\/x:0\.1\.2/,
      );
    } finally {
      silent.closeAllConnections();
      await new Promise(done => silent.close(done));
    }
  });

  it('rejects registry config mistakes at start-up, without echoing secrets', () => {
    const read = (registries: Array<Record<string, string>>) => () =>
      createContainerFeed(new ConfigReader({ kubeDelivery: { registries } }));
    expect(read([{ host: 'a.example', password: 's3cret' }])).toThrow(
      /username and password go together/,
    );
    expect(
      read([{ host: 'a.example', username: 'u', password: 'p', token: 't' }]),
    ).toThrow(/either username\/password or token/);
    expect(read([{ host: 'a.example' }, { host: 'A.example' }])).toThrow(
      /configured twice/,
    );
    expect(read([{ host: 'https://a.example' }])).toThrow(
      /must be a registry host/,
    );
    expect(read([{ host: 'a.example', url: 'ftp://a.example' }])).toThrow(
      /http or https/,
    );
    expect(
      read([{ host: 'a.example', url: 'https://u:s3cret@a.example' }]),
    ).toThrow(/^kubeDelivery\.registries\[0\]\.url must not hold credentials/);
  });
});
