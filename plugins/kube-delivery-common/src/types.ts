/** How a release replaces the one before it. @public */
export type DeploymentStrategy = 'rolling' | 'recreate' | 'blue-green';

/** Pod anti-affinity on `kubernetes.io/hostname`. @public */
export type AntiAffinity = 'preferred' | 'required' | 'none';

/** How test traffic to a feature branch is recognised. @public */
export type RoutingKind = 'cookie' | 'header' | 'baggage';

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
  /** Where the approval stands. */
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
  /** The step's name. */
  name: string;
  /** How the step went. */
  status: 'running' | 'succeeded' | 'failed' | 'skipped';
  /** ISO 8601. */
  startedAt: string;
  /** ISO 8601; absent while running. */
  finishedAt?: string;
  /** What happened, in words. */
  message?: string;
}

/** An immutable release of a service. @public */
export interface Release {
  /** The release's id. */
  id: string;
  /** The catalog entity the release is of. */
  entityRef: string;
  /** Its SemVer version. */
  version: string;
  /** The image reference deployed, `repository:tag` or `repository@sha256:...`. */
  imageRef: string;
  /** Channel the release belongs to, from its SemVer pre-release. */
  channel: string;
  /** Feature-branch name from the pre-release, or undefined for the mainline. */
  branch?: string;
  /** ISO 8601. */
  createdAt: string;
  /** The user or service that created it. */
  createdBy: string;
}

/** A deployment of a release to an environment. @public */
export interface Deployment {
  /** The deployment's id. */
  id: string;
  /** The catalog entity deployed. */
  entityRef: string;
  /** The environment deployed to. */
  environment: string;
  /** The release deployed. */
  releaseId: string;
  /** The release's version. */
  version: string;
  /** What the deployment did. */
  kind: DeploymentKind;
  /** How it replaces the release before it. */
  strategy: DeploymentStrategy;
  /** Where it is in its life. */
  status: DeploymentStatus;
  /** The user or service that requested it. */
  createdBy: string;
  /** ISO 8601: when it was requested. */
  createdAt: string;
  /** ISO 8601: when it started running. */
  startedAt?: string;
  /** ISO 8601: when it finished. */
  finishedAt?: string;
  /** Its outcome or current state, in words. */
  message?: string;
  /** Its steps, in order. */
  steps: DeploymentStep[];
  /** Present for deployments into a protected environment that needed approval. */
  approval?: DeploymentApproval;
}
