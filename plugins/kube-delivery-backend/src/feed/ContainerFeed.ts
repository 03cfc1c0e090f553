import { createHash } from 'node:crypto';
import type { Config } from '@backstage/config';
import { InputError } from '@backstage/errors';
import {
  compareVersions,
  parseVersion,
  type ParsedVersion,
} from '@internal/plugin-kube-delivery-common';
import { readRegistryConfigs, type RegistryConfig } from './config';
import { assertTag, DIGEST, parseImageRepository } from './imageReference';
import { RegistryClient, type RegistryClientOptions } from './RegistryClient';

/** A SemVer tag of an image repository. */
export interface FeedTag {
  tag: string;
  /** The SemVer version the tag is (the tag itself: tags are strict SemVer, no leading `v`). */
  version: string;
}

/**
 * A container feed: the SemVer tags of images in the registries configured in
 * `kubeDelivery.registries`, newest first, and the digest a tag points to.
 */
export interface ContainerFeed {
  /**
   * The SemVer tags of an image repository (`host[:port]/path`), newest first
   * by SemVer precedence. Other tags (`latest`, `v1.2.3`) are left out.
   */
  listTags(imageRepository: string): Promise<FeedTag[]>;
  /** The manifest digest (`sha256:...`) a tag of an image repository points to now. */
  resolveDigest(imageRepository: string, tag: string): Promise<string>;
}

export interface ContainerFeedOptions extends RegistryClientOptions {
  /** Tags asked for per page of `/tags/list` (`?n=`). Default 1000. */
  pageSize?: number;
  /** Pages read at most; a repository with more tags is an error, not a silent cut. Default 100. */
  maxPages?: number;
}

/** Manifest types a digest may be resolved for, an index or list first (it covers every platform). */
export const MANIFEST_MEDIA_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];
const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

export class RegistryContainerFeed implements ContainerFeed {
  private readonly clients = new Map<string, RegistryClient>();
  private readonly pageSize: number;
  private readonly maxPages: number;

  constructor(
    registries: RegistryConfig[],
    options: ContainerFeedOptions = {},
  ) {
    for (const registry of registries) {
      this.clients.set(registry.host, new RegistryClient(registry, options));
    }
    this.pageSize = Math.max(1, Math.floor(options.pageSize ?? 1000));
    this.maxPages = Math.max(1, Math.floor(options.maxPages ?? 100));
  }

  private target(imageRepository: string) {
    const image = parseImageRepository(imageRepository);
    const client = this.clients.get(image.host);
    if (!client) {
      throw new InputError(
        image.explicitHost
          ? `no registry configured for image ${imageRepository}: kubeDelivery.registries has no entry for host ${image.host}`
          : `no registry configured for image ${imageRepository}: it names no registry host (e.g. registry.example.com/${imageRepository}) and docker.io is not configured`,
      );
    }
    return { client, path: image.path };
  }

  async listTags(imageRepository: string): Promise<FeedTag[]> {
    const { client, path } = this.target(imageRepository);
    const tags = new Set<string>();
    const visited = new Set<string>();
    let next: string | undefined = client.apiUrl(
      `/v2/${path}/tags/list?n=${this.pageSize}`,
    );
    for (let page = 0; next; page++) {
      if (page >= this.maxPages) {
        throw new Error(
          `registry ${client.host} lists more than ${this.maxPages} pages of tags for ${path}; ask its owners to prune old tags`,
        );
      }
      visited.add(next);
      const response = await client.send({
        method: 'GET',
        url: next,
        scope: `repository:${path}:pull`,
        accept: 'application/json',
        what: `tags of ${path}`,
        repository: path,
      });
      let body: { tags?: unknown };
      try {
        body = JSON.parse(response.body.toString('utf8'));
      } catch {
        throw new Error(
          `registry ${client.host} answered the tags of ${path} with something that is not JSON`,
        );
      }
      // A repository without tags lists `"tags": null`.
      if (Array.isArray(body?.tags)) {
        for (const tag of body.tags) {
          if (typeof tag === 'string') tags.add(tag);
        }
      }
      next = nextLink(response.headers.get('link'), response.url);
      if (next !== undefined) {
        if (!client.isOwnOrigin(next)) {
          throw new Error(
            `registry ${client.host} sent the next page of tags of ${path} to another origin`,
          );
        }
        if (visited.has(next)) break;
      }
    }

    const versions: Array<{ tag: string; parsed: ParsedVersion }> = [];
    for (const tag of tags) {
      const parsed = parseVersion(tag);
      if (parsed) versions.push({ tag, parsed });
    }
    versions.sort(
      (a, b) =>
        compareVersions(b.parsed, a.parsed) || a.tag.localeCompare(b.tag, 'en'),
    );
    return versions.map(({ tag }) => ({ tag, version: tag }));
  }

  async resolveDigest(imageRepository: string, tag: string): Promise<string> {
    const { client, path } = this.target(imageRepository);
    assertTag(tag);
    const request = {
      url: client.apiUrl(`/v2/${path}/manifests/${encodeURIComponent(tag)}`),
      scope: `repository:${path}:pull`,
      accept: MANIFEST_ACCEPT,
      what: `manifest ${path}:${tag}`,
      repository: path,
      tag,
    };
    // HEAD first: it costs no pull on rate-limited registries (Docker Hub).
    const head = await client.send({ ...request, method: 'HEAD' });
    const headDigest = head.headers.get('docker-content-digest')?.trim();
    if (headDigest && DIGEST.test(headDigest)) return headDigest;

    const response = await client.send({ ...request, method: 'GET' });
    if (response.body.length === 0) {
      throw new Error(
        `registry ${client.host} answered an empty manifest for ${path}:${tag}`,
      );
    }
    const computed = `sha256:${createHash('sha256')
      .update(response.body)
      .digest('hex')}`;
    const declared = response.headers.get('docker-content-digest')?.trim();
    if (declared?.startsWith('sha256:') && declared !== computed) {
      throw new Error(
        `registry ${client.host} declared digest ${declared} for ${path}:${tag}, but the manifest it sent hashes to ${computed}`,
      );
    }
    return declared && DIGEST.test(declared) ? declared : computed;
  }
}

/** Reads `kubeDelivery.registries` and returns a feed over those registries. */
export function createContainerFeed(
  config: Config,
  options: ContainerFeedOptions = {},
): ContainerFeed {
  return new RegistryContainerFeed(readRegistryConfigs(config), options);
}

/** The `rel="next"` target of a `Link` header, resolved against the URL that answered. */
export function nextLink(
  header: string | null,
  base: string,
): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (!match) continue;
    const rels = /(?:^|;)\s*rel\s*=\s*"?([^";]*)"?/i.exec(match[2])?.[1];
    if (rels?.split(/\s+/).includes('next')) {
      try {
        return new URL(match[1], base).toString();
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
