import { InputError } from '@backstage/errors';

/** Quotes a hostile value for an error message: escaped, and short. */
export function quote(value: unknown): string {
  if (typeof value !== 'string') return typeof value;
  const shown = value.length > 80 ? `${value.slice(0, 80)}...` : value;
  return JSON.stringify(shown);
}

/** An InputError about one annotation, saying what a valid value looks like. */
export function annotationError(
  annotation: string,
  expectation: string,
  value: unknown,
): InputError {
  return new InputError(
    `Annotation ${annotation} must be ${expectation}, got ${quote(value)}`,
  );
}

const MAX_MANIFEST_LENGTH = 2048;
/** Characters allowed in one segment of a relative manifest path: no '%', ':', '\', '?', '#'. */
const PATH_SEGMENT = /^[A-Za-z0-9._~@+-]+$/;
const HAS_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
/** Control characters and whitespace, which the URL parser would silently strip. */
function hasControlOrSpace(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (
      code <= 0x20 ||
      (code >= 0x7f && code <= 0x9f) ||
      code === 0x2028 ||
      code === 0x2029
    ) {
      return true;
    }
  }
  return false;
}

/** Where a manifest annotation points. */
export type ManifestReference =
  | { type: 'url'; url: URL }
  | { type: 'path'; path: string };

const MANIFEST_EXPECTATION =
  'a relative path inside the catalog file\'s directory (e.g. "./k8s/adservice.yaml") ' +
  'or an http(s) URL without credentials, at most 2048 characters';

/**
 * Validates a `kube-delivery.io/manifest` value: either an http(s) URL, or a
 * relative path that cannot leave the catalog file's directory (no `..`
 * segments, no percent-encoding, no scheme, no backslashes).
 */
export function parseManifestReference(
  annotation: string,
  value: unknown,
): ManifestReference {
  const fail = () => annotationError(annotation, MANIFEST_EXPECTATION, value);
  if (
    typeof value !== 'string' ||
    value.length === 0 ||
    value.length > MAX_MANIFEST_LENGTH ||
    hasControlOrSpace(value)
  ) {
    throw fail();
  }
  if (HAS_SCHEME.test(value)) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw fail();
    }
    if (
      (url.protocol !== 'https:' && url.protocol !== 'http:') ||
      !url.hostname ||
      url.username ||
      url.password
    ) {
      throw fail();
    }
    return { type: 'url', url };
  }
  const segments = value.split('/');
  const valid =
    segments.every(s => PATH_SEGMENT.test(s) && s !== '..') &&
    segments[segments.length - 1] !== '.';
  if (!valid) throw fail();
  return { type: 'path', path: value };
}
