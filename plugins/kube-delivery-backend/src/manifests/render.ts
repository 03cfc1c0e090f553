import { InputError } from '@backstage/errors';
import {
  branchOf,
  branchSlug,
  parseVersion,
} from '@internal/plugin-kube-delivery-common';
import type {
  V1Affinity,
  V1ConfigMap,
  V1Container,
  V1Deployment,
  V1DeploymentStrategy,
  V1Job,
  V1ObjectMeta,
  V1PodAntiAffinity,
  V1PodDisruptionBudget,
  V1PodSpec,
  V1Secret,
  V1Service,
} from '@kubernetes/client-node';
import { ANNOTATION_KUBERNETES_ID, isDnsLabel, isLabelValue } from '../catalog';
import { quote } from '../catalog/annotationValues';
import type { ServiceSpec } from '../catalog';
import { contentHash, idSlug, versionLabel, withSuffix } from './names';
import { placeholderValues, substituteInTree } from './placeholders';
import type {
  EnvironmentTarget,
  ManifestObjects,
  RenderedRelease,
  RenderInput,
} from './types';
import {
  ANNOTATION_SMOKE_TEST,
  checkManifestObjects,
  isRecord,
} from './validate';

export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_VERSION = 'app.kubernetes.io/version';
export const LABEL_TRACK = 'kube-delivery.io/track';
export const LABEL_ENVIRONMENT = 'kube-delivery.io/environment';
export const LABEL_RELEASE = 'kube-delivery.io/release';
/** On smoke-test pods instead of the track, so no Service or Deployment selects them. */
export const LABEL_SMOKE_TEST_OF = 'kube-delivery.io/smoke-test-of';
export const ANNOTATION_RELEASE_ID = 'kube-delivery.io/release-id';
export const ANNOTATION_VERSION = 'kube-delivery.io/version';
export const ANNOTATION_CONFIG_HASH = 'kube-delivery.io/config-hash';
export const MAINLINE_TRACK = 'mainline';
export const SMOKE_TARGET_ENV = 'KUBE_DELIVERY_TARGET';
export const SMOKE_TARGET_HOST_ENV = 'KUBE_DELIVERY_TARGET_HOST';

/** The value of `app.kubernetes.io/managed-by` on every object Kube Delivery renders. */
export const MANAGER = 'kube-delivery';
const HOSTNAME_TOPOLOGY = 'kubernetes.io/hostname';
const DEFAULT_PROGRESS_DEADLINE = 120;
const MAX_PROGRESS_DEADLINE = 1800;
const DEFAULT_SMOKE_DEADLINE = 300;
const MAX_SMOKE_DEADLINE = 3600;
const SMOKE_TTL = 3600;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

type StringMap = Record<string, string>;

/** The manifest's own labels or annotations, without any in our prefix (we own those). */
function foreign(map: unknown): StringMap {
  if (!isRecord(map)) return {};
  return Object.fromEntries(
    Object.entries(map).filter(
      (entry): entry is [string, string] =>
        !entry[0].startsWith('kube-delivery.io/') &&
        typeof entry[1] === 'string',
    ),
  );
}

function checkImageRef(spec: ServiceSpec, imageRef: string): void {
  const rest =
    typeof imageRef === 'string' && imageRef.startsWith(spec.image)
      ? imageRef.slice(spec.image.length)
      : '';
  const match = /^(?::([^@]+))?(?:@(.+))?$/.exec(rest);
  const [, tag, digest] = match ?? [];
  const valid =
    match !== null &&
    (tag !== undefined || digest !== undefined) &&
    (tag === undefined || TAG.test(tag)) &&
    (digest === undefined || DIGEST.test(digest));
  if (!valid) {
    throw new InputError(
      `Image ${quote(imageRef)} must be ${
        spec.image
      } with a :tag and/or an @sha256: digest`,
    );
  }
}

function checkEnvironment(environment: EnvironmentTarget): void {
  if (!isDnsLabel(environment.namespace)) {
    throw new InputError(
      `Environment namespace ${quote(
        environment.namespace,
      )} must be an RFC 1123 label`,
    );
  }
  if (!isLabelValue(environment.name) || environment.name === '') {
    throw new InputError(
      `Environment name ${quote(environment.name)} must be a valid label value`,
    );
  }
  const floor = environment.minReplicas;
  if (floor !== undefined && !(Number.isInteger(floor) && floor >= 1)) {
    throw new InputError(
      `Environment minReplicas must be a positive integer, got ${floor}`,
    );
  }
}

/** Renames ConfigMap/Secret references of a pod spec, in place, for names in the maps. */
function renameReferences(
  podSpec: V1PodSpec,
  configMaps: Map<string, string>,
  secrets: Map<string, string>,
): void {
  const rename = (
    ref: { name?: string } | undefined,
    names: Map<string, string>,
  ) => {
    if (ref?.name !== undefined && names.has(ref.name))
      ref.name = names.get(ref.name);
  };
  for (const container of [
    ...podSpec.containers,
    ...(podSpec.initContainers ?? []),
  ]) {
    for (const variable of container.env ?? []) {
      rename(variable.valueFrom?.configMapKeyRef, configMaps);
      rename(variable.valueFrom?.secretKeyRef, secrets);
    }
    for (const source of container.envFrom ?? []) {
      rename(source.configMapRef, configMaps);
      rename(source.secretRef, secrets);
    }
  }
  for (const volume of podSpec.volumes ?? []) {
    rename(volume.configMap, configMaps);
    if (
      volume.secret?.secretName !== undefined &&
      secrets.has(volume.secret.secretName)
    ) {
      volume.secret.secretName = secrets.get(volume.secret.secretName);
    }
    for (const source of volume.projected?.sources ?? []) {
      rename(source.configMap, configMaps);
      rename(source.secret, secrets);
    }
  }
  for (const pullSecret of podSpec.imagePullSecrets ?? [])
    rename(pullSecret, secrets);
}

/**
 * Replaces the manifest's anti-affinity on kubernetes.io/hostname by ours and
 * keeps everything else it had (node affinity, pod affinity, other topologies).
 */
function withAntiAffinity(
  affinity: V1Affinity | undefined,
  mode: ServiceSpec['antiAffinity'],
  podSelector: StringMap,
): V1Affinity | undefined {
  if (mode === 'none') return affinity;
  const anti: V1PodAntiAffinity = { ...affinity?.podAntiAffinity };
  const term = {
    topologyKey: HOSTNAME_TOPOLOGY,
    labelSelector: { matchLabels: podSelector },
  };
  const preferred = (
    anti.preferredDuringSchedulingIgnoredDuringExecution ?? []
  ).filter(t => t.podAffinityTerm?.topologyKey !== HOSTNAME_TOPOLOGY);
  const required = (
    anti.requiredDuringSchedulingIgnoredDuringExecution ?? []
  ).filter(t => t.topologyKey !== HOSTNAME_TOPOLOGY);
  if (mode === 'preferred')
    preferred.push({ weight: 100, podAffinityTerm: term });
  else required.push(term);
  delete anti.preferredDuringSchedulingIgnoredDuringExecution;
  delete anti.requiredDuringSchedulingIgnoredDuringExecution;
  if (preferred.length)
    anti.preferredDuringSchedulingIgnoredDuringExecution = preferred;
  if (required.length)
    anti.requiredDuringSchedulingIgnoredDuringExecution = required;
  return { ...affinity, podAntiAffinity: anti };
}

/** Used when a service has no manifest of its own. */
function minimalManifest(spec: ServiceSpec): ManifestObjects {
  return {
    deployment: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: spec.name },
      spec: {
        selector: {},
        template: {
          spec: {
            containers: [
              {
                name: spec.name,
                image: spec.image,
                ports: [{ name: 'http', containerPort: 8080 }],
              },
            ],
          },
        },
      },
    },
    service: {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: spec.name },
      spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    },
    configMaps: [],
    secrets: [],
  };
}

/** The manifest documents again, to re-check them once placeholders are substituted. */
function asDocuments(manifest: ManifestObjects) {
  const objects = [
    manifest.deployment,
    manifest.service,
    ...manifest.configMaps,
    ...manifest.secrets,
    manifest.smokeTest,
  ].filter(object => object !== undefined);
  return objects.map((data, i) => ({ number: i + 1, data }));
}

/**
 * Renders a release of a service for an environment: the Kubernetes objects
 * to server-side apply, named and labelled so that mainline, feature-branch
 * and blue-green releases never take over each other's objects or pods.
 */
export function renderRelease(input: RenderInput): RenderedRelease {
  const { spec, environment } = input;
  checkEnvironment(environment);
  checkImageRef(spec, input.imageRef);
  const version = parseVersion(input.version);
  if (!version) {
    throw new InputError(
      `Version ${quote(
        input.version,
      )} must be SemVer 2.0.0, e.g. 0.1.4 or 0.1.4-myfeature`,
    );
  }
  const branch = branchOf(version);
  const track =
    branch === undefined ? MAINLINE_TRACK : branchSlug(branch, spec.name);
  const blueGreen = spec.strategy === 'blue-green';
  const releaseSlug = idSlug(input.releaseId);

  const serviceName =
    branch === undefined ? spec.name : `${spec.name}-${track}`;
  const workloadName = blueGreen
    ? withSuffix(serviceName, releaseSlug)
    : serviceName;
  // Blue-green objects are per release; a branch's are per branch.
  let configSuffix: string | undefined;
  if (blueGreen) configSuffix = releaseSlug;
  else if (branch !== undefined) configSuffix = track;
  const configName = (name: string) =>
    configSuffix ? withSuffix(name, configSuffix) : name;

  const podSelector: StringMap = {
    [LABEL_NAME]: spec.name,
    [LABEL_TRACK]: track,
  };
  if (blueGreen) podSelector[LABEL_RELEASE] = releaseSlug;
  const labels: StringMap = {
    [LABEL_NAME]: spec.name,
    [LABEL_MANAGED_BY]: MANAGER,
    [LABEL_VERSION]: versionLabel(version.raw),
    [ANNOTATION_KUBERNETES_ID]: spec.kubernetesId,
    [LABEL_TRACK]: track,
    [LABEL_ENVIRONMENT]: environment.name,
    ...(blueGreen ? { [LABEL_RELEASE]: releaseSlug } : {}),
  };
  const annotations: StringMap = {
    [ANNOTATION_RELEASE_ID]: input.releaseId,
    [ANNOTATION_VERSION]: version.raw,
  };
  const metadata = (name: string, source?: V1ObjectMeta): V1ObjectMeta => ({
    name,
    namespace: environment.namespace,
    labels: { ...foreign(source?.labels), ...labels },
    // No deployment id here: redeploying the same release must change nothing.
    annotations: { ...foreign(source?.annotations), ...annotations },
  });

  let manifest = minimalManifest(spec);
  if (input.manifest) {
    const values = placeholderValues({
      environment: environment.name,
      namespace: environment.namespace,
      version: version.raw,
      featureBranch: branch,
      variables: environment.variables,
    });
    // Substituted values could smuggle in what parsing rejected: check again.
    manifest = checkManifestObjects(
      asDocuments(substituteInTree(structuredClone(input.manifest), values)),
      ' (after placeholder substitution)',
    );
  }

  const configMapNames = new Map(
    manifest.configMaps.map(c => [
      c.metadata!.name!,
      configName(c.metadata!.name!),
    ]),
  );
  const secretNames = new Map(
    manifest.secrets.map(s => [
      s.metadata!.name!,
      configName(s.metadata!.name!),
    ]),
  );
  const configMaps: V1ConfigMap[] = manifest.configMaps.map(c => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: metadata(configMapNames.get(c.metadata!.name!)!, c.metadata),
    ...(c.data !== undefined ? { data: c.data } : {}),
    ...(c.binaryData !== undefined ? { binaryData: c.binaryData } : {}),
    ...(c.immutable !== undefined ? { immutable: c.immutable } : {}),
  }));
  const secrets: V1Secret[] = manifest.secrets.map(s => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: metadata(secretNames.get(s.metadata!.name!)!, s.metadata),
    type: s.type ?? 'Opaque',
    ...(s.data !== undefined ? { data: s.data } : {}),
    ...(s.stringData !== undefined ? { stringData: s.stringData } : {}),
    ...(s.immutable !== undefined ? { immutable: s.immutable } : {}),
  }));
  // Same names across rolling releases: the pod template must change when their data does.
  const configHash = contentHash({
    configMaps: manifest.configMaps.map(c => [
      c.metadata!.name,
      c.data,
      c.binaryData,
    ]),
    secrets: manifest.secrets.map(s => [
      s.metadata!.name,
      s.type,
      s.data,
      s.stringData,
    ]),
  });

  // Deployment
  const source = manifest.deployment;
  const sourceSpec = source.spec!;
  const podSpec: V1PodSpec = structuredClone(sourceSpec.template.spec!);
  renameReferences(podSpec, configMapNames, secretNames);
  const main =
    podSpec.containers.find(c => c.name === spec.name) ?? podSpec.containers[0];
  main.image = input.imageRef;
  const affinity = withAntiAffinity(
    podSpec.affinity,
    spec.antiAffinity,
    podSelector,
  );
  if (affinity) podSpec.affinity = affinity;

  // A feature branch is a test deploy: the environment's HA floor does not apply.
  const replicas =
    branch === undefined
      ? Math.max(
          spec.replicas,
          sourceSpec.replicas ?? 1,
          environment.minReplicas ?? 1,
        )
      : Math.max(1, spec.replicas);
  const strategy: V1DeploymentStrategy =
    spec.strategy === 'recreate'
      ? { type: 'Recreate' }
      : {
          type: 'RollingUpdate',
          rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
        };
  const template = sourceSpec.template.metadata;
  const deployment: V1Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: metadata(workloadName, source.metadata),
    spec: {
      replicas,
      selector: { matchLabels: podSelector },
      strategy,
      progressDeadlineSeconds: Math.min(
        sourceSpec.progressDeadlineSeconds ?? DEFAULT_PROGRESS_DEADLINE,
        MAX_PROGRESS_DEADLINE,
      ),
      ...(sourceSpec.minReadySeconds !== undefined
        ? { minReadySeconds: sourceSpec.minReadySeconds }
        : {}),
      ...(sourceSpec.revisionHistoryLimit !== undefined
        ? { revisionHistoryLimit: sourceSpec.revisionHistoryLimit }
        : {}),
      template: {
        metadata: {
          labels: { ...foreign(template?.labels), ...labels, ...podSelector },
          annotations: {
            ...foreign(template?.annotations),
            ...annotations,
            [ANNOTATION_CONFIG_HASH]: configHash,
          },
        },
        spec: podSpec,
      },
    },
  };

  const serviceFrom = (name: string, svc: V1Service): V1Service => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(name, svc.metadata),
    spec: { ...svc.spec, selector: podSelector },
  });
  const service =
    manifest.service && serviceFrom(serviceName, manifest.service);
  // The live Service still selects the old release while the smoke test runs.
  const previewService =
    blueGreen && manifest.service
      ? serviceFrom(workloadName, manifest.service)
      : undefined;

  const podDisruptionBudget: V1PodDisruptionBudget | undefined =
    replicas > 1
      ? {
          apiVersion: 'policy/v1',
          kind: 'PodDisruptionBudget',
          metadata: metadata(workloadName),
          spec: { maxUnavailable: 1, selector: { matchLabels: podSelector } },
        }
      : undefined;

  const testedService = previewService ?? service;
  const smokeTest =
    manifest.smokeTest &&
    renderSmokeTest(manifest.smokeTest, {
      name: withSuffix(
        workloadName,
        `smoke-${
          input.deploymentId ? idSlug(input.deploymentId) : releaseSlug
        }`,
      ),
      metadata,
      labels,
      annotations,
      workloadName,
      targetHost:
        testedService &&
        `${testedService.metadata!.name}.${environment.namespace}.svc`,
      configMapNames,
      secretNames,
    });

  return {
    workloadName,
    serviceName,
    deployment,
    ...(service ? { service } : {}),
    ...(previewService ? { previewService } : {}),
    configMaps,
    secrets,
    ...(podDisruptionBudget ? { podDisruptionBudget } : {}),
    ...(smokeTest ? { smokeTest } : {}),
    podSelector,
  };
}

function renderSmokeTest(
  source: V1Job,
  options: {
    name: string;
    metadata: (name: string, source?: V1ObjectMeta) => V1ObjectMeta;
    labels: StringMap;
    annotations: StringMap;
    workloadName: string;
    targetHost?: string;
    configMapNames: Map<string, string>;
    secretNames: Map<string, string>;
  },
): V1Job {
  const sourceSpec = source.spec!;
  const podSpec: V1PodSpec = structuredClone(sourceSpec.template.spec!);
  renameReferences(podSpec, options.configMapNames, options.secretNames);
  const { targetHost } = options;
  if (targetHost) {
    const target = [
      { name: SMOKE_TARGET_ENV, value: `http://${targetHost}` },
      { name: SMOKE_TARGET_HOST_ENV, value: targetHost },
    ];
    podSpec.containers = podSpec.containers.map((container: V1Container) => ({
      ...container,
      env: [
        ...(container.env ?? []).filter(
          v => v.name !== SMOKE_TARGET_ENV && v.name !== SMOKE_TARGET_HOST_ENV,
        ),
        ...target,
      ],
    }));
  }
  podSpec.restartPolicy = 'Never';
  // No track label: no Service or Deployment of the release may select these pods.
  const podLabels = Object.fromEntries(
    Object.entries(options.labels).filter(
      ([key]) => key !== LABEL_TRACK && key !== LABEL_RELEASE,
    ),
  );
  const metadata = options.metadata(options.name, source.metadata);
  metadata.annotations![ANNOTATION_SMOKE_TEST] = 'true';
  const template = sourceSpec.template.metadata;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata,
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: Math.min(
        sourceSpec.activeDeadlineSeconds ?? DEFAULT_SMOKE_DEADLINE,
        MAX_SMOKE_DEADLINE,
      ),
      ttlSecondsAfterFinished: SMOKE_TTL,
      template: {
        metadata: {
          labels: {
            ...foreign(template?.labels),
            ...podLabels,
            [LABEL_SMOKE_TEST_OF]: options.workloadName,
          },
          annotations: {
            ...foreign(template?.annotations),
            ...options.annotations,
          },
        },
        spec: podSpec,
      },
    },
  };
}
