import type { Deployment, Release } from './types';

/** A list answer of the Kube Delivery API. @public */
export interface ItemsResponse<T> {
  items: T[];
}

/** An environment as `GET /environments` returns it, in lifecycle order. @public */
export interface EnvironmentSummary {
  name: string;
  namespace: string;
  protected?: boolean;
  featureBranches?: boolean;
  minReplicas?: number;
  gateway?: { namespace: string; name: string; hosts: string[] };
}

/** A pod of a service's Deployment, as the Environments tab shows it. @public */
export interface RolloutPodView {
  name: string;
  /** The node the pod was scheduled to. */
  node?: string;
  ready: boolean;
  /** The pod phase (`Pending`, `Running`, ...) or `Terminating`. */
  phase: string;
  ip?: string;
}

/** Where a Deployment's rollout stands, following `kubectl rollout status`. @public */
export interface RolloutStatusView {
  exists: boolean;
  observedGenerationCurrent: boolean;
  desired: number;
  updated: number;
  ready: number;
  available: number;
  unavailable: number;
  progressing: 'True' | 'False' | 'Unknown';
  progressReason?: string;
  complete: boolean;
  deadlineExceeded: boolean;
  /** In words, e.g. "2 of 3 updated replicas are available". */
  message: string;
  pods: RolloutPodView[];
}

/** What one environment runs of a service (`GET .../status` items). @public */
export interface EnvironmentStatusView {
  environment: string;
  namespace: string;
  current?: Deployment;
  active: Deployment[];
  rollout?: RolloutStatusView;
  /** Why the live state could not be read, in words. */
  rolloutError?: string;
}

/** A page of deployments, newest first. @public */
export interface DeploymentListPage {
  items: Deployment[];
  /** Pass as `before` to get the next page; absent on the last page. */
  nextCursor?: string;
}

/** A release as the API lists it. @public */
export type ReleaseView = Release;
