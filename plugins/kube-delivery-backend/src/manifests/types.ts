import type {
  V1ConfigMap,
  V1Deployment,
  V1Job,
  V1PodDisruptionBudget,
  V1Secret,
  V1Service,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import type { ServiceSpec } from '../catalog';

/** A service's own manifest, parsed and validated: what a release snapshots. */
export interface ManifestObjects {
  deployment: V1Deployment;
  service?: V1Service;
  configMaps: V1ConfigMap[];
  secrets: V1Secret[];
  /** The batch/v1 Job annotated `kube-delivery.io/smoke-test: "true"`. */
  smokeTest?: V1Job;
  /** The service's own account, as upstream manifests ship it; rendered under the service's name. */
  serviceAccount?: V1ServiceAccount;
}

/** The part of an environment's configuration that rendering needs. */
export interface EnvironmentTarget {
  name: string;
  namespace: string;
  /** Replica floor for mainline releases (not feature branches). */
  minReplicas?: number;
  /** Values of `#{Name}` placeholders scoped to this environment. */
  variables?: Record<string, string>;
  /** ConfigMaps and Secrets of the namespace any service's pods may use. */
  shared?: { configMaps: string[]; secrets: string[] };
  /** Seconds of the preStop sleep given to containers without a preStop hook (0: none). */
  shutdownDelaySeconds?: number;
}

export interface RenderInput {
  /** From the release's snapshot. */
  spec: ServiceSpec;
  /** SemVer, e.g. `0.1.4` or `0.1.4-myfeature`. */
  version: string;
  /** `spec.image` with a `:tag` and/or `@sha256:` digest. */
  imageRef: string;
  /** Parsed manifest from the snapshot; absent: a minimal Deployment + Service. */
  manifest?: ManifestObjects;
  environment: EnvironmentTarget;
  /** Database id of the release; names blue-green objects. */
  releaseId: string;
  /** Database id of the deployment; names the smoke-test Job. */
  deploymentId?: string;
  /** A restart's time (ISO 8601), on the pod template: the Deployment replaces its pods. */
  restartedAt?: string;
}

export interface RenderedRelease {
  /** The Deployment name. */
  workloadName: string;
  /** The name of the Service clients use (the live one for blue-green). */
  serviceName: string;
  /** The service's own account, which its pods (and smoke test) run as. */
  serviceAccount: V1ServiceAccount;
  deployment: V1Deployment;
  /**
   * The Service clients use; absent when the service's manifest has none
   * (e.g. a load generator). For blue-green, apply it only once the new pods
   * are ready: its selector switches traffic to this release.
   */
  service?: V1Service;
  /**
   * Blue-green only: a Service named like the workload that selects only this
   * release's pods, so the smoke test can reach them before the switch.
   */
  previewService?: V1Service;
  configMaps: V1ConfigMap[];
  secrets: V1Secret[];
  podDisruptionBudget?: V1PodDisruptionBudget;
  smokeTest?: V1Job;
  /** Labels that select exactly this release's pods. */
  podSelector: Record<string, string>;
}
