import { InputError } from '@backstage/errors';
import { DOCKER_HUB_HOST, isRegistryHost } from './config';

/** An image repository split into the registry host and the repository path in it. */
export interface ImageRepository {
  /** The registry host, lower case; `docker.io` for an unqualified image. */
  host: string;
  /** The repository inside the registry, e.g. `octopussamples/microservicedemo-adservice`. */
  path: string;
  /** Whether the image named its registry host itself. */
  explicitHost: boolean;
}

const MAX_REFERENCE_LENGTH = 512;
/** Repository path components, from the distribution reference grammar. */
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const MAX_PATH_LENGTH = 255;
/*
 * The one place that says what an image tag and digest are, for the
 * release API, the feed and the renderer alike.
 */

/** A tag, from the distribution reference grammar. */
export const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/**
 * A digest Kube Delivery pins: sha256, as registries compute it. The feed
 * computes one itself when a registry declares another algorithm.
 */
export const DIGEST = /^sha256:[a-f0-9]{64}$/;

function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

/**
 * Parses an image repository as the `kube-delivery.io/image` annotation holds
 * it: `[host[:port]/]path`, without a tag or digest. The first component is the
 * registry host when it has a `.` or `:` or is `localhost` (Docker's rule).
 */
export function parseImageRepository(image: unknown): ImageRepository {
  if (typeof image !== 'string' || image.length === 0) {
    throw new InputError('image repository must be a non-empty string');
  }
  if (image.length > MAX_REFERENCE_LENGTH) {
    throw new InputError(
      `image repository is longer than ${MAX_REFERENCE_LENGTH} characters`,
    );
  }
  if (image.includes('@')) {
    throw new InputError(
      `image repository ${quote(image)} must not include a digest`,
    );
  }
  const slash = image.indexOf('/');
  const first = slash < 0 ? '' : image.slice(0, slash);
  const explicitHost =
    slash >= 0 &&
    (first.includes('.') || first.includes(':') || first === 'localhost');
  const host = explicitHost ? first.toLowerCase() : DOCKER_HUB_HOST;
  let path = explicitHost ? image.slice(slash + 1) : image;
  if (explicitHost && !isRegistryHost(host)) {
    throw new InputError(`image ${quote(image)} has an invalid registry host`);
  }
  if (path.includes(':')) {
    throw new InputError(
      `image repository ${quote(image)} must not include a tag`,
    );
  }
  // Docker Hub's official images live under library/.
  if (host === DOCKER_HUB_HOST && !path.includes('/')) path = `library/${path}`;
  const components = path.split('/');
  if (
    path.length > MAX_PATH_LENGTH ||
    !components.every(c => PATH_COMPONENT.test(c))
  ) {
    throw new InputError(
      `image repository ${quote(
        image,
      )} is not a valid repository name (lower-case letters, digits and separators)`,
    );
  }
  return { host, path, explicitHost };
}

/** Checks a tag against the distribution reference grammar. */
export function assertTag(tag: unknown): asserts tag is string {
  if (typeof tag !== 'string' || !TAG.test(tag)) {
    throw new InputError(
      `${
        typeof tag === 'string' ? quote(tag) : 'tag'
      } is not a valid image tag`,
    );
  }
}
