import type { ParsedVersion } from './types';

/** Longest version string accepted; keeps hostile input cheap to reject. */
const MAX_VERSION_LENGTH = 128;
const NUMERIC = /^(0|[1-9][0-9]*)$/;
const IDENTIFIER = /^[0-9A-Za-z-]+$/;

/** Longest Kubernetes object name (an RFC 1123 label). */
const MAX_NAME_LENGTH = 63;
/** Track label of mainline pods; a branch must never slug to it. */
const RESERVED_SLUGS = new Set(['mainline']);
/** Slugs ending like this may be hashed output; hash such raw branches too so they cannot collide. */
const LOOKS_HASHED = /-[0-9a-f]{8}$/;

function parseIdentifiers(
  text: string,
  numericMustBeCanonical: boolean,
): string[] | undefined {
  const ids = text.split('.');
  for (const id of ids) {
    if (!IDENTIFIER.test(id)) return undefined;
    if (numericMustBeCanonical && /^[0-9]+$/.test(id) && !NUMERIC.test(id)) {
      return undefined;
    }
  }
  return ids;
}

/**
 * Parses a strict SemVer 2.0.0 version (no leading `v`, no leading zeros in
 * numeric parts, at most 128 characters).
 *
 * @public
 */
export function parseVersion(raw: string): ParsedVersion | undefined {
  if (typeof raw !== 'string' || raw.length > MAX_VERSION_LENGTH) {
    return undefined;
  }
  const plus = raw.indexOf('+');
  const beforeBuild = plus < 0 ? raw : raw.slice(0, plus);
  const build = plus < 0 ? [] : parseIdentifiers(raw.slice(plus + 1), false);
  const dash = beforeBuild.indexOf('-');
  const core = dash < 0 ? beforeBuild : beforeBuild.slice(0, dash);
  const prerelease =
    dash < 0 ? [] : parseIdentifiers(beforeBuild.slice(dash + 1), true);
  if (!build || !prerelease) return undefined;

  const parts = core.split('.');
  if (parts.length !== 3 || !parts.every(p => NUMERIC.test(p))) {
    return undefined;
  }
  const [major, minor, patch] = parts.map(Number);
  if (![major, minor, patch].every(Number.isSafeInteger)) return undefined;
  return { raw, major, minor, patch, prerelease, build };
}

function compareNumbers(a: number, b: number): number {
  return Math.sign(a - b);
}

/** Numeric identifiers may exceed 2^53: compare canonical digit strings by length first. */
function compareIdentifiers(a: string, b: string): number {
  const aNumeric = /^[0-9]+$/.test(a);
  const bNumeric = /^[0-9]+$/.test(b);
  if (aNumeric && bNumeric) {
    return a.length !== b.length
      ? compareNumbers(a.length, b.length)
      : compareStrings(a, b);
  }
  if (aNumeric) return -1;
  if (bNumeric) return 1;
  return compareStrings(a, b);
}

function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

/**
 * Compares two versions by SemVer precedence (build metadata ignored):
 * negative when `a` comes first, 0 when equal, positive when `b` comes first.
 *
 * @public
 */
export function compareVersions(a: ParsedVersion, b: ParsedVersion): number {
  const core =
    compareNumbers(a.major, b.major) ||
    compareNumbers(a.minor, b.minor) ||
    compareNumbers(a.patch, b.patch);
  if (core !== 0) return core;
  // A mainline release ranks above any of its pre-releases.
  if (a.prerelease.length === 0 || b.prerelease.length === 0) {
    return compareNumbers(b.prerelease.length, a.prerelease.length);
  }
  const shared = Math.min(a.prerelease.length, b.prerelease.length);
  for (let i = 0; i < shared; i++) {
    const order = compareIdentifiers(a.prerelease[i], b.prerelease[i]);
    if (order !== 0) return order;
  }
  return compareNumbers(a.prerelease.length, b.prerelease.length);
}

/**
 * The feature branch of a version: its pre-release joined by `.`, or
 * undefined for a mainline release.
 *
 * @public
 */
export function branchOf(version: ParsedVersion): string | undefined {
  return version.prerelease.length > 0
    ? version.prerelease.join('.')
    : undefined;
}

/**
 * FNV-1a 32-bit as 8 hex digits: a tiny, stable, dependency-free hash for
 * names. Not collision resistant against a determined attacker.
 *
 * @public
 */
export function fnv1a32(text: string): string {
  let hash = 0x811c9dc5;
  const bytes = new TextEncoder().encode(text);
  for (const byte of bytes) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/**
 * The Kubernetes name suffix of a feature branch, such that
 * `${serviceName}-${slug}` is an RFC 1123 label of at most 63 characters.
 * A branch that is already a short, clean slug is kept as is; otherwise
 * (sanitised, truncated, or reserved) a hash of the raw branch is appended,
 * so that distinct branches get distinct names.
 *
 * @public
 */
export function branchSlug(branch: string, serviceName: string): string {
  const hash = fnv1a32(branch);
  const budget = MAX_NAME_LENGTH - serviceName.length - 1;
  if (budget < hash.length) {
    throw new Error(
      `Service name "${serviceName}" is too long for a feature-branch suffix`,
    );
  }
  const sanitized = branch
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const keep =
    sanitized === branch &&
    sanitized.length > 0 &&
    sanitized.length <= budget &&
    !RESERVED_SLUGS.has(sanitized) &&
    !LOOKS_HASHED.test(sanitized);
  if (keep) return sanitized;
  const prefix = sanitized
    .slice(0, budget - hash.length - 1)
    .replace(/-+$/, '');
  return prefix ? `${prefix}-${hash}` : hash;
}

/** A release channel: a rule on the SemVer pre-release. @public */
export interface VersionChannel {
  /** The channel's name. */
  name: string;
  /** Regular expression, anchored, matched against the joined pre-release ('' for mainline). */
  prerelease: string;
}

/**
 * The first channel whose `prerelease` pattern matches the version's joined
 * pre-release ('' for mainline), or undefined. An invalid pattern never matches.
 *
 * @public
 */
export function channelOf<T extends VersionChannel>(
  version: ParsedVersion,
  channels: readonly T[],
): T | undefined {
  const prerelease = version.prerelease.join('.');
  return channels.find(channel => {
    try {
      return new RegExp(`^(?:${channel.prerelease})$`).test(prerelease);
    } catch {
      return false;
    }
  });
}
