import type { UrlReaderService } from '@backstage/backend-plugin-api';
import type { Entity } from '@backstage/catalog-model';
import { InputError } from '@backstage/errors';
import {
  branchOf,
  channelOf,
  parseVersion,
} from '@internal/plugin-kube-delivery-common';
import {
  parseServiceSpec,
  resolveManifestLocation,
  type ServiceSpec,
} from '../catalog';
import { readManifestFile } from '../catalog/resolveManifestLocation';
import type { ChannelConfig } from '../config/environments';
import type { DeliveryStore, ReleaseRecord } from '../database';
import type { ContainerFeed, FeedTag } from '../feed';
import { DIGEST, TAG } from '../feed/imageReference';
import { MAX_MANIFEST_BYTES, parseManifest } from '../manifests';


export interface CreateReleaseInput {
  entity: Entity;
  version: string;
  /** Image repository: the entity's `image` (the default) or one of its `image-repositories`. */
  image?: string;
  /** Image tag; defaults to the version. */
  tag?: string;
  /** Image digest, pinned in the image reference when given. */
  digest?: string;
  createdBy: string;
}

/** Creates immutable releases: a version plus a snapshot of spec and manifest. */
export class ReleaseService {
  constructor(
    private readonly options: {
      store: DeliveryStore;
      urlReader: UrlReaderService;
      channels: ChannelConfig[];
      /** The container feed; without it releases name their tag themselves. */
      feed?: ContainerFeed;
    },
  ) {}

  /** The SemVer tags of the entity's image in its registry, newest first. */
  async listFeed(entity: Entity): Promise<FeedTag[]> {
    const spec = parseServiceSpec(entity);
    return this.requireFeed().listTags(spec.image);
  }

  /**
   * A release from a tag of the container feed: the tag is the version, and
   * the digest it points to now is pinned, so the release deploys exactly
   * that image even if the tag moves later.
   */
  async createReleaseFromFeed(input: {
    entity: Entity;
    tag: string;
    createdBy: string;
  }): Promise<ReleaseRecord> {
    if (!parseVersion(input.tag)) {
      throw new InputError(
        `Tag "${input.tag.slice(
          0,
          64,
        )}" is not a SemVer version; pick one the feed lists`,
      );
    }
    const spec = parseServiceSpec(input.entity);
    const digest = await this.requireFeed().resolveDigest(
      spec.image,
      input.tag,
    );
    return this.createRelease({
      entity: input.entity,
      version: input.tag,
      tag: input.tag,
      digest,
      createdBy: input.createdBy,
    });
  }

  private requireFeed(): ContainerFeed {
    if (!this.options.feed) {
      throw new InputError(
        'No container feed is configured (kubeDelivery.registries)',
      );
    }
    return this.options.feed;
  }

  async createRelease(input: CreateReleaseInput): Promise<ReleaseRecord> {
    const version = parseVersion(input.version);
    if (!version) {
      throw new InputError(
        `Version "${String(input.version).slice(
          0,
          64,
        )}" is not SemVer 2.0.0, e.g. 0.1.4 or 0.1.4-myfeature`,
      );
    }
    if (input.tag !== undefined && !TAG.test(input.tag)) {
      throw new InputError(
        'Image tag must be 1 to 128 characters of letters, digits, "_", "." and "-", not starting with "." or "-"',
      );
    }
    if (input.digest !== undefined && !DIGEST.test(input.digest)) {
      throw new InputError(
        'Image digest must look like sha256:<64 hex digits>',
      );
    }
    const channel = channelOf(version, this.options.channels);
    if (!channel) {
      throw new InputError(
        `No channel accepts version ${
          version.raw
        }; configured channels: ${this.options.channels
          .map(c => `${c.name} (${c.prerelease})`)
          .join(', ')}`,
      );
    }
    const spec = parseServiceSpec(input.entity);
    const manifest = spec.manifest
      ? await this.readManifest(input.entity, spec)
      : undefined;
    if (manifest !== undefined) parseManifest(manifest); // refuse a bad manifest now, not at deploy time

    const repository = input.image ?? spec.image;
    const allowed = [spec.image, ...(spec.imageRepositories ?? [])];
    if (!allowed.includes(repository)) {
      throw new InputError(
        `Image repository "${String(repository).slice(
          0,
          255,
        )}" is not the entity's; it may name ${allowed.join(
          ', ',
        )} (add others to the kube-delivery.io/image-repositories annotation)`,
      );
    }
    const tag = input.tag ?? version.raw.replace(/\+/g, '_');
    const imageRef = `${repository}:${tag}${
      input.digest ? `@${input.digest}` : ''
    }`;
    return this.options.store.createRelease({
      entityRef: spec.entityRef,
      version: version.raw,
      imageRef,
      channel: channel.name,
      branch: branchOf(version),
      createdBy: input.createdBy,
      snapshot: { spec: { ...spec }, manifest },
    });
  }

  private async readManifest(entity: Entity, spec: ServiceSpec) {
    const location = resolveManifestLocation(entity, spec.manifest!);
    if (location.startsWith('file:')) {
      // Local catalogs (file locations) are read directly, UrlReader has no
      // file: scheme: confined to the catalog file's directory, and capped.
      const buffer = await readManifestFile(
        entity,
        spec.manifest!,
        MAX_MANIFEST_BYTES,
      );
      return buffer.toString('utf8');
    }
    let buffer: Buffer;
    try {
      const response = await this.options.urlReader.readUrl(location);
      buffer = await response.buffer();
    } catch (error) {
      throw new InputError(
        `Cannot read the manifest of ${spec.entityRef} at ${location}: ${
          (error as Error).message
        }`,
      );
    }
    if (buffer.length > MAX_MANIFEST_BYTES) {
      throw new InputError(
        `The manifest at ${location} is ${buffer.length} bytes; the limit is ${MAX_MANIFEST_BYTES}`,
      );
    }
    return buffer.toString('utf8');
  }
}
