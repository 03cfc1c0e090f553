import type { Config } from '@backstage/config';

/**
 * One image registry from `kubeDelivery.registries`. The credentials are held
 * here and in the registry client only: never logged, never returned.
 */
export interface RegistryConfig {
  /** How images name the registry, lower case: `registry.example.com`, `127.0.0.1:5000`, `docker.io`. */
  host: string;
  /** Base URL of the registry's Distribution API, without the trailing `/v2/`. */
  url: string;
  username?: string;
  password?: string;
  token?: string;
}

/** Docker Hub: unqualified images (`octopussamples/x`, `nginx`) belong to it. */
export const DOCKER_HUB_HOST = 'docker.io';
const DOCKER_HUB_URL = 'https://registry-1.docker.io';

const HOST_NAME =
  /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const IPV6 = /^\[[0-9a-f:.]+\]$/;

/** Whether `host` is a registry host as images write it: a DNS name or IP, with an optional port. */
export function isRegistryHost(host: string): boolean {
  if (host.length > 260) return false;
  const match = /^(.*?)(?::([0-9]{1,5}))?$/.exec(host);
  if (!match) return false;
  const [, name, port] = match;
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    return false;
  }
  return HOST_NAME.test(name) || IPV6.test(name);
}

function readUrl(raw: string | undefined, host: string, where: string): string {
  const text =
    raw ?? (host === DOCKER_HUB_HOST ? DOCKER_HUB_URL : `https://${host}`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${where}.url is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`${where}.url must be an http or https URL`);
  }
  if (url.username || url.password) {
    throw new Error(
      `${where}.url must not hold credentials: use username/password or token`,
    );
  }
  if (url.search || url.hash) {
    throw new Error(`${where}.url must not have a query or fragment`);
  }
  const path = url.pathname.replace(/\/+$/, '');
  if (/\/v2$/.test(path)) {
    throw new Error(`${where}.url is the registry's base URL, without /v2`);
  }
  return `${url.origin}${path}`;
}

/**
 * Reads `kubeDelivery.registries` from app-config. A mistake stops start-up
 * with a message naming the entry, never the secret values.
 */
export function readRegistryConfigs(root: Config): RegistryConfig[] {
  const entries = root.getOptionalConfigArray('kubeDelivery.registries') ?? [];
  const seen = new Set<string>();
  return entries.map((entry, index) => {
    const where = `kubeDelivery.registries[${index}]`;
    const host = entry.getString('host').trim().toLowerCase();
    if (!isRegistryHost(host)) {
      throw new Error(
        `${where}.host "${host}" must be a registry host such as registry.example.com or 127.0.0.1:5000`,
      );
    }
    if (seen.has(host)) {
      throw new Error(`${where}: registry host "${host}" is configured twice`);
    }
    seen.add(host);
    const username = entry.getOptionalString('username');
    const password = entry.getOptionalString('password');
    const token = entry.getOptionalString('token');
    if ((username === undefined) !== (password === undefined)) {
      throw new Error(`${where}: username and password go together`);
    }
    if (token !== undefined && username !== undefined) {
      throw new Error(
        `${where}: configure either username/password or token, not both`,
      );
    }
    if (username !== undefined && username.includes(':')) {
      throw new Error(`${where}.username must not contain ":"`);
    }
    return {
      host,
      url: readUrl(entry.getOptionalString('url'), host, where),
      username,
      password,
      token,
    };
  });
}
