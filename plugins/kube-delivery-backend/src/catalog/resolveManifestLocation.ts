import { constants as fsConstants, type Stats } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
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
    return `file:${
      fileManifestPath(entity, manifest, location.target, reference.path).file
    }`;
  }
  throw new InputError(
    `Annotation ${ANNOTATION_MANIFEST} is a relative path, but the entity comes from a ` +
      `${quote(location.type)} location; use an http(s) URL instead`,
  );
}

/** `directory` with a trailing separator, so that a prefix test cannot match a sibling. */
function withSeparator(directory: string): string {
  return directory.endsWith(path.sep) ? directory : `${directory}${path.sep}`;
}

/** The catalog file's directory and the manifest's path in it, checked lexically. */
function fileManifestPath(
  entity: Entity,
  manifest: string,
  catalogFile: string,
  relative: string,
): { directory: string; file: string } {
  if (!path.isAbsolute(catalogFile)) {
    throw new InputError(
      `Entity location ${quote(catalogFile)} is not an absolute file path`,
    );
  }
  const directory = path.dirname(path.resolve(catalogFile));
  const file = path.resolve(directory, relative);
  // Defence in depth: the reference grammar already rules out escapes.
  if (!file.startsWith(withSeparator(directory))) {
    throw outsideDirectory(entity, manifest);
  }
  return { directory, file };
}

const fileErrorCode = (error: unknown) =>
  (error as NodeJS.ErrnoException | undefined)?.code;

/**
 * Reads the manifest of an entity from a `file:` location: the file the
 * annotation names in the catalog file's directory, at most `maxBytes` of it.
 *
 * The annotation's author controls the files next to the catalog file, and
 * so can make the manifest a symbolic link. The real path (links resolved)
 * must therefore lie inside the catalog file's real directory, and be a
 * regular file of at most `maxBytes`: a link to a file elsewhere on the
 * backend's host, to a device such as /dev/zero, or to a FIFO (which would
 * block an open for reading) is refused before anything is read from it, and
 * never more than `maxBytes` bytes are read.
 */
export async function readManifestFile(
  entity: Entity,
  manifest: string,
  maxBytes: number,
): Promise<Buffer> {
  const reference = parseManifestReference(ANNOTATION_MANIFEST, manifest);
  const location = catalogFileLocation(entity);
  if (reference.type !== 'path' || location.type !== 'file') {
    throw new InputError(
      `Annotation ${ANNOTATION_MANIFEST} of ${entity.metadata.name} does not name a ` +
        'file next to a catalog file of a file location',
    );
  }
  const { directory, file } = fileManifestPath(
    entity,
    manifest,
    location.target,
    reference.path,
  );
  const shown = quote(manifest);
  const what = `The manifest ${shown} of ${entity.metadata.name}`;
  const fix =
    `Point ${ANNOTATION_MANIFEST} at a YAML file of at most ${
      maxBytes / 1024
    } KiB ` + 'inside the directory of the catalog file.';

  let realDirectory: string;
  try {
    realDirectory = await fs.realpath(directory);
  } catch (error) {
    throw new InputError(
      `The directory of the catalog file of ${entity.metadata.name} cannot be read ` +
        `(${
          fileErrorCode(error) ?? 'error'
        }). Check that the catalog file is still where it was registered.`,
    );
  }
  // One answer whether a link's target is missing or outside: the error must
  // not tell which files exist elsewhere on the host.
  const escapes = new InputError(
    `${what} is a symbolic link (or lies under one) that leads outside the directory ` +
      `of the catalog file, or to nothing. ${fix}`,
  );
  const inside = (real: string) =>
    real.startsWith(withSeparator(realDirectory));
  // Segment by segment from the real directory, so that "does not exist" is
  // only ever said of a path inside it, never of one a link leads to.
  let realFile = realDirectory;
  for (const segment of path.relative(directory, file).split(path.sep)) {
    const next = path.join(realFile, segment);
    let stats: Stats;
    try {
      stats = await fs.lstat(next);
    } catch (error) {
      const code = fileErrorCode(error);
      throw new InputError(
        code === 'ENOENT' || code === 'ENOTDIR'
          ? `${what} does not exist. ${fix}`
          : `${what} cannot be read (${code ?? 'error'}). ${fix}`,
      );
    }
    if (stats.isSymbolicLink()) {
      const real = await fs.realpath(next).catch(() => undefined);
      if (real === undefined || !inside(real)) throw escapes;
      realFile = real;
    } else {
      realFile = next;
    }
  }
  if (!inside(realFile)) throw escapes;

  const notRegular = new InputError(
    `${what} is not a regular file (a directory, a device or a FIFO). ${fix}`,
  );
  const tooLarge = (size: number) =>
    new InputError(
      `${what} is ${size} bytes; the limit is ${maxBytes}. Keep only the objects ` +
        'of the service in it.',
    );
  // A device or a FIFO is not even opened (opening some has effects).
  const before = await fs.stat(realFile).catch(() => undefined);
  if (!before) throw new InputError(`${what} does not exist. ${fix}`);
  if (!before.isFile()) throw notRegular;
  if (before.size > maxBytes) throw tooLarge(before.size);

  let handle: FileHandle;
  try {
    // O_NOFOLLOW: the real path must not have become a link since; O_NONBLOCK:
    // a FIFO put in its place does not block the open.
    handle = await fs.open(
      realFile,
      fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK,
    );
  } catch (error) {
    throw new InputError(
      `${what} cannot be opened (${fileErrorCode(error) ?? 'error'}). ${fix}`,
    );
  }
  try {
    const opened = await handle.stat();
    if (!opened.isFile()) throw notRegular;
    if (opened.size > maxBytes) throw tooLarge(opened.size);
    // Only the size fstat gave is read: a file that grows meanwhile is cut
    // there, never read past the limit.
    const buffer = Buffer.alloc(opened.size);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(
        buffer,
        length,
        buffer.length - length,
        length,
      );
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}
