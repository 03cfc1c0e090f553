import { createHash } from 'node:crypto';
import { fnv1a32 } from '@internal/plugin-kube-delivery-common';
import { MAX_LABEL_LENGTH } from '../catalog';

/**
 * A short, stable name suffix for a database id. Hashed rather than cut, since
 * a prefix of a time-ordered id (UUIDv7, ULID) repeats between releases.
 */
export function idSlug(id: string): string {
  return fnv1a32(id);
}

/**
 * `${name}-${suffix}` as an RFC 1123 label of at most 63 characters: when too
 * long, `name` is cut and a hash of it keeps distinct names distinct.
 */
export function withSuffix(name: string, suffix: string): string {
  const joined = `${name}-${suffix}`;
  if (joined.length <= MAX_LABEL_LENGTH) return joined;
  const hash = fnv1a32(name);
  const room = MAX_LABEL_LENGTH - suffix.length - hash.length - 2;
  if (room < 1) throw new Error(`Name suffix ${suffix} is too long`);
  const head = name.slice(0, room).replace(/-+$/, '');
  return head ? `${head}-${hash}-${suffix}` : `${hash}-${suffix}`;
}

/** A version as a label value: '+' and other characters become '_', at most 63 characters. */
export function versionLabel(version: string): string {
  return version
    .replace(/[^A-Za-z0-9_.-]/g, '_')
    .slice(0, MAX_LABEL_LENGTH)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
}

/** JSON with sorted keys, so equal data always hashes the same. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : Number(a > b)));
    return `{${entries
      .map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** A short SHA-256 of data, for change-detection annotations. */
export function contentHash(value: unknown): string {
  return createHash('sha256')
    .update(canonicalJson(value))
    .digest('hex')
    .slice(0, 32);
}
