import path from 'node:path';
import {
  ANNOTATION_LOCATION,
  ANNOTATION_ORIGIN_LOCATION,
  type Entity,
  parseLocationRef,
} from '@backstage/catalog-model';
import { InputError } from '@backstage/errors';
import { ANNOTATION_MANIFEST } from '@internal/plugin-kube-delivery-common';
import { parseManifestReference, quote } from './annotationValues';

function catalogFileLocation(entity: Entity): { type: string; target: string } {
  const annotations = entity.metadata?.annotations ?? {};
  // managed-by-location is the file that holds the entity (set by the catalog,
  // not the author); the origin location is the registered root, a fallback.
  const ref =
    annotations[ANNOTATION_LOCATION] ?? annotations[ANNOTATION_ORIGIN_LOCATION];
  if (typeof ref !== 'string') {
    throw new InputError(
      `Annotation ${ANNOTATION_MANIFEST} is a relative path, but the entity has no ` +
        `${ANNOTATION_LOCATION} annotation to resolve it against; use an http(s) URL instead`,
    );
  }
  try {
    return parseLocationRef(ref);
  } catch {
    throw new InputError(
      `Entity location ${quote(ref)} is not a valid location reference`,
    );
  }
}

function outsideDirectory(entity: Entity, manifest: string): InputError {
  return new InputError(
    `Annotation ${ANNOTATION_MANIFEST} of ${
      entity.metadata.name
    } resolves to ${quote(manifest)} ` +
      `outside the directory of its catalog file`,
  );
}

/**
 * Where to read a service's manifest from: an http(s) URL for UrlReader, or
 * `file:<absolute path>` when the entity came from a file location. A relative
 * path resolves against the entity's catalog file and never leaves its directory.
 */
export function resolveManifestLocation(
  entity: Entity,
  manifest: string,
): string {
  const reference = parseManifestReference(ANNOTATION_MANIFEST, manifest);
  if (reference.type === 'url') return reference.url.href;

  const location = catalogFileLocation(entity);
  if (location.type === 'url') {
    let base: URL;
    try {
      base = new URL(location.target);
    } catch {
      throw new InputError(
        `Entity location ${quote(location.target)} is not a valid URL`,
      );
    }
    if (base.protocol !== 'https:' && base.protocol !== 'http:') {
      throw new InputError(
        `Entity location ${quote(location.target)} is not an http(s) URL`,
      );
    }
    const directory = new URL('.', base);
    const resolved = new URL(reference.path, base);
    // Defence in depth: the reference grammar already rules out escapes.
    if (
      resolved.origin !== directory.origin ||
      !resolved.pathname.startsWith(directory.pathname)
    ) {
      throw outsideDirectory(entity, manifest);
    }
    return resolved.href;
  }
  if (location.type === 'file') {
    if (!path.isAbsolute(location.target)) {
      throw new InputError(
        `Entity location ${quote(
          location.target,
        )} is not an absolute file path`,
      );
    }
    const directory = path.dirname(path.resolve(location.target));
    const resolved = path.resolve(directory, reference.path);
    const prefix = directory.endsWith(path.sep)
      ? directory
      : `${directory}${path.sep}`;
    if (!resolved.startsWith(prefix)) throw outsideDirectory(entity, manifest);
    return `file:${resolved}`;
  }
  throw new InputError(
    `Annotation ${ANNOTATION_MANIFEST} is a relative path, but the entity comes from a ` +
      `${quote(location.type)} location; use an http(s) URL instead`,
  );
}
