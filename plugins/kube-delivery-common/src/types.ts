import type {
  RoutingKind,
} from './schema/openapi/generated/models';

/** Pod anti-affinity on `kubernetes.io/hostname`. @public */
export type AntiAffinity = 'preferred' | 'required' | 'none';

/** The request attribute that routing rules of a service match on. @public */
export interface RoutingKey {
  /** What is matched: a cookie, a header or a baggage member. */
  kind: RoutingKind;
  /** Cookie name, lowercase header name, or baggage member key. */
  name: string;
}

/** A SemVer 2.0.0 version, parsed. @public */
export interface ParsedVersion {
  /** The version as written. */
  raw: string;
  /** The major version. */
  major: number;
  /** The minor version. */
  minor: number;
  /** The patch version. */
  patch: number;
  /** Dot-separated pre-release identifiers; empty for a mainline release. */
  prerelease: string[];
  /** Dot-separated build metadata identifiers. */
  build: string[];
}

/**
 * Where a deployment into a protected environment stands with its approval:
 * `waiting` for another user holding the approve permission, `approved`,
 * `rejected` (with a reason), `expired` (nobody decided in time), or
 * `bypassed` (deployed at once by a user holding the bypass permission). @public
 */
export type ApprovalState =
  | 'waiting'
  | 'approved'
  | 'rejected'
  | 'expired'
  | 'bypassed';

