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

/** Where a deployment is in its life. @public */
export type DeploymentStatus =
  | 'queued'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'rolled-back';

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
}
