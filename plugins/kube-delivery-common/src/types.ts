/** How a release replaces the one before it. @public */
export type DeploymentStrategy = 'rolling' | 'recreate' | 'blue-green';

/** Pod anti-affinity on `kubernetes.io/hostname`. @public */
export type AntiAffinity = 'preferred' | 'required' | 'none';

/** How test traffic to a feature branch is recognised. @public */
export type RoutingKind = 'cookie' | 'header' | 'baggage';

/** The request attribute that routing rules of a service match on. @public */
export interface RoutingKey {
  kind: RoutingKind;
  /** Cookie name, lowercase header name, or baggage member key. */
  name: string;
}

/** A SemVer 2.0.0 version, parsed. @public */
export interface ParsedVersion {
  raw: string;
  major: number;
  minor: number;
  patch: number;
  /** Dot-separated pre-release identifiers; empty for a mainline release. */
  prerelease: string[];
  build: string[];
}

/** What a deployment did. @public */
export type DeploymentKind = 'deploy' | 'promote' | 'rollback' | 'restart';

/**
 * Where a deployment is in its life. A deployment, promotion or rollback
 * into a protected environment starts `waiting-approval` and is `queued`
 * once approved; `rejected` and `expired` ones never ran. @public
 */
export type DeploymentStatus =
  | 'waiting-approval'
  | 'queued'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'rolled-back'
  | 'rejected'
  | 'expired';

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

/** The approval of a deployment into a protected environment. @public */
export interface DeploymentApproval {
  state: ApprovalState;
  /** ISO 8601: when a waiting deployment expires; absent when it was bypassed. */
  expiresAt?: string;
  /** Who approved, rejected or bypassed it (the expiry's actor for expired ones). */
  decidedBy?: string;
  /** ISO 8601. */
  decidedAt?: string;
  /** Why it was rejected. */
  reason?: string;
}

/** One step of a deployment run, as the history shows it. @public */
export interface DeploymentStep {
  name: string;
  status: 'running' | 'succeeded' | 'failed' | 'skipped';
  startedAt: string;
  finishedAt?: string;
  message?: string;
}

/** An immutable release of a service. @public */
export interface Release {
  id: string;
  entityRef: string;
  version: string;
  /** The image reference deployed, `repository:tag` or `repository@sha256:...`. */
  imageRef: string;
  /** Channel the release belongs to, from its SemVer pre-release. */
  channel: string;
  /** Feature-branch name from the pre-release, or undefined for the mainline. */
  branch?: string;
  createdAt: string;
  createdBy: string;
}

/** A deployment of a release to an environment. @public */
export interface Deployment {
  id: string;
  entityRef: string;
  environment: string;
  releaseId: string;
  version: string;
  kind: DeploymentKind;
  strategy: DeploymentStrategy;
  status: DeploymentStatus;
  createdBy: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  message?: string;
  steps: DeploymentStep[];
  /** Present for deployments into a protected environment that needed approval. */
  approval?: DeploymentApproval;
}
