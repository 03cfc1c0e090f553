import { type Entity, stringifyEntityRef } from '@backstage/catalog-model';
import { InputError } from '@backstage/errors';
import {
  ANNOTATION_ANTI_AFFINITY,
  ANNOTATION_HOSTS,
  ANNOTATION_IMAGE,
  ANNOTATION_IMAGE_REPOSITORIES,
  ANNOTATION_INGRESS,
  ANNOTATION_MANIFEST,
  ANNOTATION_REPLICAS,
  ANNOTATION_ROUTING,
  ANNOTATION_SERVICE_ACCOUNT_TOKEN,
  ANNOTATION_STRATEGY,
  type AntiAffinity,
  type DeploymentStrategy,
  type RoutingKey,
} from '@internal/plugin-kube-delivery-common';
import {
  annotationError,
  parseManifestReference,
  quote,
} from './annotationValues';
import { isDnsLabel, isLabelValue } from './kubernetesNames';
import type { IngressRef, ServiceSpec } from './types';

/** The Backstage Kubernetes plugin's workload label and annotation. */
export const ANNOTATION_KUBERNETES_ID = 'backstage.io/kubernetes-id';

/** Leaves room for `-<branch>` and `-<release>` suffixes within 63 characters. */
export const MAX_SERVICE_NAME_LENGTH = 45;
export const MAX_REPLICAS = 50;
const MAX_IMAGE_LENGTH = 255;
const MAX_ROUTING_LENGTH = 64;

const STRATEGIES: readonly DeploymentStrategy[] = [
  'rolling',
  'recreate',
  'blue-green',
];
const ANTI_AFFINITIES: readonly AntiAffinity[] = [
  'preferred',
  'required',
  'none',
];

/**
 * A Docker repository reference without tag or digest: an optional
 * `host[:port]/` (a host needs a '.', a port or to be `localhost` to be one,
 * which the grammar does not need to know), then lowercase path components
 * separated by '.', '_', '__' or dashes.
 */
const IMAGE_REPOSITORY = new RegExp(
  '^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::[0-9]{1,5})?/)?' +
    '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*' +
    '(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$',
);
/** RFC 6265 cookie-name / RFC 7230 token characters; also a W3C baggage key. */
const TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
/** Istio matches lowercase header names. */
const HEADER_NAME = /^[a-z0-9-]+$/;
const SERVICE_NAME = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

function ownAnnotation(entity: Entity, key: string): unknown {
  const annotations: unknown = entity.metadata?.annotations;
  if (typeof annotations !== 'object' || annotations === null) {
    return undefined;
  }
  return Object.prototype.hasOwnProperty.call(annotations, key)
    ? (annotations as Record<string, unknown>)[key]
    : undefined;
}

/**
 * A comma-separated annotation of 1 to `max` items that are each `valid`
 * (trimmed, empty ones dropped, each once): undefined when it is absent, an
 * InputError saying it takes `expected` otherwise.
 */
function commaList(
  entity: Entity,
  key: string,
  max: number,
  valid: (item: string) => boolean,
  expected: string,
): string[] | undefined {
  const value = ownAnnotation(entity, key);
  if (value === undefined) return undefined;
  const items =
    typeof value === 'string'
      ? value
          .split(',')
          .map(item => item.trim())
          .filter(Boolean)
      : [];
  if (items.length === 0 || items.length > max || !items.every(valid)) {
    throw annotationError(
      key,
      `1 to ${max} comma-separated ${expected}`,
      value,
    );
  }
  return [...new Set(items)];
}

function oneOf<T extends string>(
  entity: Entity,
  annotation: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const value = ownAnnotation(entity, annotation);
  if (value === undefined) return fallback;
  if (allowed.includes(value as T)) return value as T;
  throw annotationError(annotation, `one of ${allowed.join(', ')}`, value);
}

function parseServiceName(entity: Entity): string {
  const name: unknown = entity.metadata?.name;
  if (
    typeof name !== 'string' ||
    name.length > MAX_SERVICE_NAME_LENGTH ||
    !SERVICE_NAME.test(name)
  ) {
    throw new InputError(
      `Entity name must be an RFC 1123 label of at most ${MAX_SERVICE_NAME_LENGTH} characters ` +
        `starting with a letter (lowercase letters, digits and '-', e.g. "adservice"; ` +
        `room is kept for feature-branch suffixes, and Kubernetes Service names start with a letter), ` +
        `got ${quote(name)}`,
    );
  }
  return name;
}

function parseImage(entity: Entity): string {
  const value = ownAnnotation(entity, ANNOTATION_IMAGE);
  if (
    typeof value !== 'string' ||
    value.length > MAX_IMAGE_LENGTH ||
    !IMAGE_REPOSITORY.test(value)
  ) {
    throw annotationError(
      ANNOTATION_IMAGE,
      'a lowercase image repository without tag or digest, at most 255 characters ' +
        '(e.g. "octopussamples/microservicedemo-adservice" or "registry.example.com:5000/team/adservice")',
      value,
    );
  }
  return value;
}

const MAX_IMAGE_REPOSITORIES = 8;

function parseImageRepositories(
  entity: Entity,
  image: string,
): string[] | undefined {
  return commaList(
    entity,
    ANNOTATION_IMAGE_REPOSITORIES,
    MAX_IMAGE_REPOSITORIES,
    r => r.length <= MAX_IMAGE_LENGTH && IMAGE_REPOSITORY.test(r),
    'lowercase image repositories without tag or digest ' +
      '(e.g. "istio/examples-bookinfo-reviews-v2")',
  )?.filter(r => r !== image);
}

function parseReplicas(entity: Entity): number {
  const value = ownAnnotation(entity, ANNOTATION_REPLICAS);
  if (value === undefined) return 1;
  const replicas =
    typeof value === 'string' && /^[1-9][0-9]?$/.test(value)
      ? Number(value)
      : NaN;
  if (!(replicas <= MAX_REPLICAS)) {
    throw annotationError(
      ANNOTATION_REPLICAS,
      `an integer from 1 to ${MAX_REPLICAS}`,
      value,
    );
  }
  return replicas;
}

function parseRouting(entity: Entity): RoutingKey | undefined {
  const value = ownAnnotation(entity, ANNOTATION_ROUTING);
  if (value === undefined) return undefined;
  const fail = () =>
    annotationError(
      ANNOTATION_ROUTING,
      `"cookie:<name>", "header:<name>" or "baggage:<key>" (at most ${MAX_ROUTING_LENGTH} characters; ` +
        `a cookie name or baggage key of token characters, a header name of lowercase letters, digits and '-'; ` +
        `e.g. "cookie:shop_session-id" or "header:userid")`,
      value,
    );
  if (typeof value !== 'string' || value.length > MAX_ROUTING_LENGTH) {
    throw fail();
  }
  const colon = value.indexOf(':');
  const kind = value.slice(0, colon);
  const name = value.slice(colon + 1);
  if (colon < 0) throw fail();
  if ((kind === 'cookie' || kind === 'baggage') && TOKEN.test(name)) {
    return { kind, name };
  }
  if (kind === 'header' && HEADER_NAME.test(name)) {
    return { kind, name };
  }
  throw fail();
}

function parseIngress(entity: Entity): IngressRef | undefined {
  const value = ownAnnotation(entity, ANNOTATION_INGRESS);
  if (value === undefined) return undefined;
  const parts = typeof value === 'string' ? value.split('/') : [];
  if (parts.length !== 2 || !parts.every(isDnsLabel)) {
    throw annotationError(
      ANNOTATION_INGRESS,
      '"<namespace>/<gateway name>", both RFC 1123 labels (e.g. "istio-system/ingressgateway")',
      value,
    );
  }
  return { namespace: parts[0], name: parts[1] };
}

const MAX_HOSTS = 16;
/** A DNS name of lowercase labels (no wildcard: a service claims whole hosts). */
const HOST_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;

function parseHosts(entity: Entity): string[] | undefined {
  return commaList(
    entity,
    ANNOTATION_HOSTS,
    MAX_HOSTS,
    host => HOST_NAME.test(host),
    'lowercase DNS names without wildcards ' +
      '(e.g. "shop.dev.boutique.example, shop.boutique.example")',
  );
}

function parseManifest(entity: Entity): string | undefined {
  const value = ownAnnotation(entity, ANNOTATION_MANIFEST);
  if (value === undefined) return undefined;
  parseManifestReference(ANNOTATION_MANIFEST, value);
  return value as string;
}

/**
 * Reads a catalog entity's Kube Delivery annotations into a validated
 * service spec; throws an InputError naming the first invalid annotation.
 */
export function parseServiceSpec(entity: Entity): ServiceSpec {
  const name = parseServiceName(entity);
  const kubernetesId = ownAnnotation(entity, ANNOTATION_KUBERNETES_ID);
  const spec: ServiceSpec = {
    entityRef: stringifyEntityRef(entity),
    name,
    image: parseImage(entity),
    strategy: oneOf(entity, ANNOTATION_STRATEGY, STRATEGIES, 'rolling'),
    replicas: parseReplicas(entity),
    antiAffinity: oneOf(
      entity,
      ANNOTATION_ANTI_AFFINITY,
      ANTI_AFFINITIES,
      'preferred',
    ),
    // Used as a label value; an unusable one falls back to the entity name.
    kubernetesId:
      isLabelValue(kubernetesId) && kubernetesId !== '' ? kubernetesId : name,
  };
  const manifest = parseManifest(entity);
  const routing = parseRouting(entity);
  const ingress = parseIngress(entity);
  const hosts = parseHosts(entity);
  const imageRepositories = parseImageRepositories(entity, spec.image);
  if (imageRepositories?.length) spec.imageRepositories = imageRepositories;
  const serviceAccountToken = ownAnnotation(
    entity,
    ANNOTATION_SERVICE_ACCOUNT_TOKEN,
  );
  if (serviceAccountToken === 'mount') spec.serviceAccountToken = 'mount';
  else if (serviceAccountToken !== undefined) {
    throw annotationError(
      ANNOTATION_SERVICE_ACCOUNT_TOKEN,
      '"mount" (or leave it out: no token is mounted)',
      serviceAccountToken,
    );
  }
  if (hosts) spec.hosts = hosts;
  if (manifest !== undefined) spec.manifest = manifest;
  if (routing) spec.routing = routing;
  if (ingress) spec.ingress = ingress;
  return spec;
}
