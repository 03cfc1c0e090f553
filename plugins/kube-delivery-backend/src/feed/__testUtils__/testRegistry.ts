import { execFile } from 'node:child_process';
import {
  createHash,
  createPrivateKey,
  randomUUID,
  sign,
  X509Certificate,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = resolve(__dirname, '../../../../../scripts/registry.sh');

export type RegistryMode = 'basic' | 'token' | 'anonymous';

/** What `scripts/registry.sh env` prints, as an object. */
export interface RegistryEnv {
  KD_REGISTRY_URL: string;
  KD_REGISTRY_HOST: string;
  KD_REGISTRY_USER?: string;
  KD_REGISTRY_PASSWORD?: string;
  KD_REGISTRY_TOKEN_REALM?: string;
  KD_REGISTRY_TOKEN_SERVICE?: string;
  KD_REGISTRY_TOKEN_ISSUER?: string;
  KD_REGISTRY_TOKEN_KEY?: string;
  KD_REGISTRY_TOKEN_CERT?: string;
}

async function script(args: string[], env: Record<string, string>) {
  try {
    const { stdout } = await run('bash', [SCRIPT, ...args], {
      env: { ...process.env, ...env },
      timeout: 300_000,
    });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; message?: string };
    throw new Error(
      `scripts/registry.sh ${args.join(' ')} failed: ${e.stderr || e.message}`,
    );
  }
}

/** Starts a registry through scripts/registry.sh (failing loudly when it cannot) and reads its settings. */
export async function startRegistry(
  mode: RegistryMode,
  env: Record<string, string>,
): Promise<RegistryEnv> {
  await script(['start', mode], env);
  const out = await script(['env', mode], env);
  const parsed: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) parsed[line.slice(0, eq)] = line.slice(eq + 1);
  }
  if (!parsed.KD_REGISTRY_URL) {
    throw new Error(`scripts/registry.sh env ${mode} printed no URL`);
  }
  return parsed as unknown as RegistryEnv;
}

export async function stopRegistries(env: Record<string, string>) {
  await script(['stop'], env);
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Uploads a blob the two-step way: POST /blobs/uploads/, then PUT the content with its digest. */
async function uploadBlob(
  url: string,
  repository: string,
  data: Buffer,
  authorization?: string,
): Promise<{ digest: string; size: number }> {
  const auth: Record<string, string> = authorization ? { authorization } : {};
  const digest = sha256(data);
  const start = await fetch(`${url}/v2/${repository}/blobs/uploads/`, {
    method: 'POST',
    headers: { ...auth, 'content-length': '0' },
  });
  if (start.status !== 202) {
    throw new Error(
      `POST blobs/uploads answered ${start.status}: ${await start.text()}`,
    );
  }
  const location = new URL(start.headers.get('location')!, url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { ...auth, 'content-type': 'application/octet-stream' },
    body: data,
  });
  if (put.status !== 201) {
    throw new Error(`PUT blob answered ${put.status}: ${await put.text()}`);
  }
  return { digest, size: data.length };
}

/**
 * Pushes a tiny OCI image (a config blob and one layer whose content is
 * `layerContent`) and tags it. Returns the manifest digest the registry reported.
 */
export async function pushImage(options: {
  url: string;
  repository: string;
  tag: string;
  layerContent: string;
  authorization?: string;
}): Promise<string> {
  const { url, repository, tag, layerContent, authorization } = options;
  const layer = await uploadBlob(
    url,
    repository,
    Buffer.from(layerContent),
    authorization,
  );
  const config = await uploadBlob(
    url,
    repository,
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
      }),
    ),
    authorization,
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: config.digest,
        size: config.size,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: layer.digest,
          size: layer.size,
        },
      ],
    }),
  );
  const response = await fetch(`${url}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    headers: {
      ...(authorization ? { authorization } : {}),
      'content-type': 'application/vnd.oci.image.manifest.v1+json',
    },
    body: manifest,
  });
  if (response.status !== 201) {
    throw new Error(
      `PUT manifest ${tag} answered ${
        response.status
      }: ${await response.text()}`,
    );
  }
  const digest = response.headers.get('docker-content-digest');
  if (digest !== sha256(manifest)) {
    throw new Error(
      `the registry reported digest ${digest} for manifest ${sha256(manifest)}`,
    );
  }
  return digest;
}

export function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export interface TokenIssuer {
  keyFile: string;
  certFile: string;
  service: string;
  issuer: string;
}

/**
 * A registry token as distribution verifies it: an RS256 JWT whose `x5c`
 * header carries the certificate in the registry's `rootcertbundle`.
 */
export function mintToken(
  issuer: TokenIssuer,
  access: Array<{ type: string; name: string; actions: string[] }>,
  subject = 'test',
): string {
  const cert = new X509Certificate(readFileSync(issuer.certFile));
  const key = createPrivateKey(readFileSync(issuer.keyFile));
  const now = Math.floor(Date.now() / 1000);
  const header = {
    typ: 'JWT',
    alg: 'RS256',
    x5c: [cert.raw.toString('base64')],
  };
  const claims = {
    iss: issuer.issuer,
    sub: subject,
    aud: issuer.service,
    exp: now + 300,
    nbf: now - 10,
    iat: now,
    jti: randomUUID(),
    access,
  };
  const input = `${base64url(JSON.stringify(header))}.${base64url(
    JSON.stringify(claims),
  )}`;
  const signature = sign('RSA-SHA256', Buffer.from(input), key);
  return `${input}.${base64url(signature)}`;
}

/**
 * A token service for the `token` registry: checks basic credentials (none
 * means anonymous, which gets a token without access, as Docker Hub does for a
 * private repository) and grants the requested repository scopes.
 */
export class TestTokenServer {
  /** Requests served, to check that tokens are cached. */
  requests = 0;
  private issuer: TokenIssuer | undefined;
  private constructor(
    private readonly server: Server,
    readonly url: string,
    private readonly user: string,
    private readonly password: string,
  ) {}

  static async start(user: string, password: string): Promise<TestTokenServer> {
    const holder: { instance?: TestTokenServer } = {};
    const server = createServer((req, res) =>
      holder.instance!.handle(req.url ?? '/', req.headers.authorization, res),
    );
    await new Promise<void>(done => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    holder.instance = new TestTokenServer(
      server,
      `http://127.0.0.1:${port}/token`,
      user,
      password,
    );
    return holder.instance;
  }

  /** The signing key and certificate, known once the registry has been started with this realm. */
  useIssuer(issuer: TokenIssuer) {
    this.issuer = issuer;
  }

  private handle(
    path: string,
    authorization: string | undefined,
    res: import('node:http').ServerResponse,
  ) {
    this.requests++;
    const url = new URL(path, this.url);
    const anonymous = authorization === undefined;
    if (
      !anonymous &&
      authorization !== basicAuthorization(this.user, this.password)
    ) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ details: 'incorrect username or password' }));
      return;
    }
    if (
      !this.issuer ||
      url.searchParams.get('service') !== this.issuer.service
    ) {
      res.writeHead(400).end();
      return;
    }
    const access = anonymous
      ? []
      : url.searchParams.getAll('scope').flatMap(scope => {
          const [type, name, actions] = scope.split(':');
          return type === 'repository' && name && actions
            ? [{ type, name, actions: actions.split(',') }]
            : [];
        });
    const token = mintToken(this.issuer, access, anonymous ? '' : this.user);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
  }

  async close() {
    await new Promise<void>(done => this.server.close(() => done()));
  }
}

/**
 * A proxy in front of a real registry that pages `/tags/list?n=` the way the
 * OCI distribution spec describes (`last`, and a `Link: <...>; rel="next"`
 * header). distribution 2.8 ignores `n` and lists every tag at once, so this
 * is how the feed's pagination meets a real registry's data and auth.
 * `nextOrigin` makes the Link point elsewhere, as a hostile registry might.
 */
export class PagingProxy {
  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly host: string,
  ) {}

  static async start(
    upstream: string,
    options: { nextOrigin?: string } = {},
  ): Promise<PagingProxy> {
    const server = createServer(async (req, res) => {
      try {
        const url = new URL(req.url ?? '/', upstream);
        const pageSize = Number(url.searchParams.get('n'));
        const last = url.searchParams.get('last');
        const paging = url.pathname.endsWith('/tags/list') && pageSize > 0;
        url.searchParams.delete('n');
        url.searchParams.delete('last');
        const headers: Record<string, string> = {};
        for (const name of ['authorization', 'accept']) {
          const value = req.headers[name];
          if (typeof value === 'string') headers[name] = value;
        }
        const answer = await fetch(url, { method: req.method, headers });
        const body = Buffer.from(await answer.arrayBuffer());
        const outHeaders: Record<string, string> = {};
        answer.headers.forEach((value, name) => {
          if (
            ![
              'content-length',
              'content-encoding',
              'transfer-encoding',
              'connection',
            ].includes(name)
          ) {
            outHeaders[name] = value;
          }
        });
        if (!paging || answer.status !== 200) {
          res.writeHead(answer.status, outHeaders).end(body);
          return;
        }
        const list = JSON.parse(body.toString('utf8')) as {
          name: string;
          tags: string[];
        };
        const sorted = [...(list.tags ?? [])].sort();
        const rest = last === null ? sorted : sorted.filter(tag => tag > last);
        const page = rest.slice(0, pageSize);
        if (rest.length > pageSize) {
          const next = `/v2/${
            list.name
          }/tags/list?n=${pageSize}&last=${encodeURIComponent(
            page[page.length - 1],
          )}`;
          outHeaders.link = `<${options.nextOrigin ?? ''}${next}>; rel="next"`;
        }
        res
          .writeHead(200, outHeaders)
          .end(JSON.stringify({ name: list.name, tags: page }));
      } catch (error) {
        res.writeHead(502).end(String(error));
      }
    });
    await new Promise<void>(done => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    return new PagingProxy(
      server,
      `http://127.0.0.1:${port}`,
      `127.0.0.1:${port}`,
    );
  }

  async close() {
    this.server.closeAllConnections();
    await new Promise<void>(done => this.server.close(() => done()));
  }
}

/** A loopback port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>(done => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>(done => server.close(() => done()));
  return port;
}
