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
  V1ServiceAccount,
} from '@kubernetes/client-node';
import { ANNOTATION_KUBERNETES_ID, isDnsLabel, isLabelValue } from '../catalog';
import { quote } from '../catalog/annotationValues';
import type { ServiceSpec } from '../catalog';
import { DIGEST, TAG } from '../feed/imageReference';
import { contentHash, idSlug, versionLabel, withSuffix } from './names';
import { placeholderValues, substituteInTree } from './placeholders';
import type {
  EnvironmentTarget,
  ManifestObjects,
  RenderedRelease,
  RenderInput,
} from './types';
import { ownerLabels } from '../tenancy/ownership';
import {
  ANNOTATION_OWNER_REF,
  LABEL_MANAGED_BY,
  MANAGER,
} from '../cluster/managedObjects';
import {
  ANNOTATION_SMOKE_TEST,
  checkManifestObjects,
  isRecord,
} from './validate';

export const LABEL_NAME = 'app.kubernetes.io/name';
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
/** On the pod template of a restart's Deployment: its time. */
export const ANNOTATION_RESTARTED_AT = 'kube-delivery.io/restarted-at';

/** The track a version runs on: `mainline`, or the slug of its feature branch. */
export function trackOf(version: string, serviceName: string): string {
  const parsed = parseVersion(version);
  const branch = parsed ? branchOf(parsed) : undefined;
  return branch === undefined
    ? MAINLINE_TRACK
    : branchSlug(branch, serviceName);
}
export const SMOKE_TARGET_ENV = 'KUBE_DELIVERY_TARGET';
export const SMOKE_TARGET_HOST_ENV = 'KUBE_DELIVERY_TARGET_HOST';

/** Istio's workload labels (telemetry, subsets): set from the release, never the manifest. */
export const LABEL_ISTIO_APP = 'app';
export const LABEL_ISTIO_VERSION = 'version';
const HOSTNAME_TOPOLOGY = 'kubernetes.io/hostname';
const DEFAULT_PROGRESS_DEADLINE = 120;
const MAX_PROGRESS_DEADLINE = 1800;
const DEFAULT_SMOKE_DEADLINE = 300;
const MAX_SMOKE_DEADLINE = 3600;
const SMOKE_TTL = 3600;

type StringMap = Record<string, string>;

/**
 * Label keys Kube Delivery sets itself: who a workload is (so no manifest can
 * pose as another service in the Kubernetes plugin or Istio, or join another
 * service's selector) and who owns it.
 */
function isOwnedLabel(key: string): boolean {
  return (
    key.startsWith('kube-delivery.io/') ||
    key.startsWith('app.kubernetes.io/') ||
    key === ANNOTATION_KUBERNETES_ID ||
    key === LABEL_ISTIO_APP ||
    key === LABEL_ISTIO_VERSION
  );
}

/** The manifest's own labels, without those Kube Delivery owns. */
function foreignLabels(map: unknown): StringMap {
  return stringEntries(map, key => !isOwnedLabel(key));
}

/** The manifest's own annotations, without any in our prefix (we own those). */
function foreign(map: unknown): StringMap {
  return stringEntries(map, key => !key.startsWith('kube-delivery.io/'));
}

function stringEntries(
  map: unknown,
  keep: (key: string) => boolean,
): StringMap {
  if (!isRecord(map)) return {};
  return Object.fromEntries(
    Object.entries(map).filter(
      (entry): entry is [string, string] =>
        keep(entry[0]) && typeof entry[1] === 'string',
    ),
  );
}

/**
 * The pod spec runs as the service's own ServiceAccount, whatever an earlier
 * apply left in the deprecated `serviceAccount` field, with a token mounted
 * only when the entity asked for one. A manifest may name only that account.
 */
function runAsServiceAccount(
  podSpec: V1PodSpec,
  accountName: string,
  allowedNames: Set<string>,
  mountToken: boolean,
  describe: string,
): void {
  for (const field of ['serviceAccountName', 'serviceAccount'] as const) {
    const named = podSpec[field];
    if (named !== undefined && named !== '' && !allowedNames.has(named)) {
      throw new InputError(
        `Manifest ${describe}: spec.template.spec.${field} ${quote(
          named,
        )} names another account; a service runs as its own ServiceAccount ${quote(
          accountName,
        )}, which Kube Delivery writes. Remove the field or set it to ${quote(
          accountName,
        )}`,
      );
    }
  }
  podSpec.serviceAccountName = accountName;
  podSpec.serviceAccount = accountName;
  podSpec.automountServiceAccountToken = mountToken;
}

function checkImageRef(spec: ServiceSpec, imageRef: string): void {
  const repositories = [spec.image, ...(spec.imageRepositories ?? [])];
  const valid = repositories.some(repository => {
    const rest =
      typeof imageRef === 'string' && imageRef.startsWith(repository)
        ? imageRef.slice(repository.length)
        : '';
    const match = /^(?::([^@]+))?(?:@(.+))?$/.exec(rest);
    const [, tag, digest] = match ?? [];
    return (
      match !== null &&
      (tag !== undefined || digest !== undefined) &&
      (tag === undefined || TAG.test(tag)) &&
      (digest === undefined || DIGEST.test(digest))
    );
  });
  if (!valid) {
    throw new InputError(
      `Image ${quote(imageRef)} must be ${repositories.join(
        ' or ',
      )} with a :tag and/or an @sha256: digest`,
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

/** Every ConfigMap and Secret reference of a pod spec, with where it is. */
function* configReferences(podSpec: V1PodSpec): Generator<{
  kind: 'ConfigMap' | 'Secret';
  ref: { name?: string };
  at: string;
}> {
  const containers = [
    ...podSpec.containers.map((c, i) => ({ c, at: `containers[${i}]` })),
    ...(podSpec.initContainers ?? []).map((c, i) => ({
      c,
      at: `initContainers[${i}]`,
    })),
  ];
  for (const { c, at } of containers) {
    for (const [i, variable] of (c.env ?? []).entries()) {
      const from = variable.valueFrom;
      if (from?.configMapKeyRef)
        yield {
          kind: 'ConfigMap',
          ref: from.configMapKeyRef,
          at: `${at}.env[${i}]`,
        };
      if (from?.secretKeyRef)
        yield { kind: 'Secret', ref: from.secretKeyRef, at: `${at}.env[${i}]` };
    }
    for (const [i, source] of (c.envFrom ?? []).entries()) {
      if (source.configMapRef)
        yield {
          kind: 'ConfigMap',
          ref: source.configMapRef,
          at: `${at}.envFrom[${i}]`,
        };
      if (source.secretRef)
        yield {
          kind: 'Secret',
          ref: source.secretRef,
          at: `${at}.envFrom[${i}]`,
        };
    }
  }
  for (const [i, volume] of (podSpec.volumes ?? []).entries()) {
    const at = `volumes[${i}]`;
    if (volume.configMap)
      yield { kind: 'ConfigMap', ref: volume.configMap, at };
    if (volume.secret) {
      // A Secret volume names its Secret `secretName`: adapt it to `name`.
      const secret = volume.secret;
      yield {
        kind: 'Secret',
        ref: {
          get name() {
            return secret.secretName;
          },
          set name(value) {
            secret.secretName = value;
          },
        },
        at,
      };
    }
    for (const [j, source] of (volume.projected?.sources ?? []).entries()) {
      if (source.configMap)
        yield {
          kind: 'ConfigMap',
          ref: source.configMap,
          at: `${at}.projected.sources[${j}]`,
        };
      if (source.secret)
        yield {
          kind: 'Secret',
          ref: source.secret,
          at: `${at}.projected.sources[${j}]`,
        };
    }
  }
  for (const [i, pullSecret] of (podSpec.imagePullSecrets ?? []).entries())
    yield { kind: 'Secret', ref: pullSecret, at: `imagePullSecrets[${i}]` };
}

/**
 * Points a pod spec's ConfigMap/Secret references at the release's renamed
 * objects, in place. A reference to any other ConfigMap or Secret must be one
 * the environment shares with every service: pods never read another
 * service's configuration or credentials.
 */
function renameReferences(
  podSpec: V1PodSpec,
  configMaps: Map<string, string>,
  secrets: Map<string, string>,
  shared: { configMaps: string[]; secrets: string[] },
  describe: string,
): void {
  for (const { kind, ref, at } of configReferences(podSpec)) {
    const own = kind === 'ConfigMap' ? configMaps : secrets;
    const name = ref.name;
    if (name === undefined) continue;
    if (own.has(name)) {
      ref.name = own.get(name);
    } else if (
      !(kind === 'ConfigMap' ? shared.configMaps : shared.secrets).includes(
        name,
      )
    ) {
      throw new InputError(
        `Manifest ${describe}: spec.template.spec.${at} uses ${kind} ${quote(
          name,
        )}, which is neither in the manifest nor shared by the environment; pods may use only their own release's ${kind}s and those the platform team lists in the environment's shared.${
          kind === 'ConfigMap' ? 'configMaps' : 'secrets'
        }`,
      );
    }
  }
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

/**
 * Gives each container without a preStop hook a preStop sleep, so that a pod being
 * deleted keeps serving while the proxies and kube-proxy stop sending it requests (they
 * learn of the deletion from the EndpointSlice a moment later). Without it a rolling or
 * blue-green deploy fails the requests that race with the endpoint change. The sleep
 * stays a second inside the pod's termination grace period; a container's own hook wins.
 */
function withShutdownDelay(podSpec: V1PodSpec, delaySeconds: number): void {
  const grace = podSpec.terminationGracePeriodSeconds ?? 30;
  const seconds = Math.min(delaySeconds, grace - 1);
  if (seconds < 1) return;
  for (const container of podSpec.containers) {
    if (container.lifecycle?.preStop) continue;
    container.lifecycle = {
      ...container.lifecycle,
      preStop: { sleep: { seconds } },
    };
  }
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
    manifest.serviceAccount,
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
  const track = trackOf(version.raw, spec.name);
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
  // Who the service is and who owns it: the same on every object of it.
  const identityLabels: StringMap = {
    [LABEL_NAME]: spec.name,
    [LABEL_MANAGED_BY]: MANAGER,
    [ANNOTATION_KUBERNETES_ID]: spec.kubernetesId,
    [LABEL_ENVIRONMENT]: environment.name,
    [LABEL_ISTIO_APP]: spec.name,
    ...ownerLabels(spec.entityRef),
  };
  const labels: StringMap = {
    ...identityLabels,
    [LABEL_VERSION]: versionLabel(version.raw),
    [LABEL_ISTIO_VERSION]: versionLabel(version.raw),
    [LABEL_TRACK]: track,
    ...(blueGreen ? { [LABEL_RELEASE]: releaseSlug } : {}),
  };
  const annotations: StringMap = {
    [ANNOTATION_RELEASE_ID]: input.releaseId,
    [ANNOTATION_VERSION]: version.raw,
    [ANNOTATION_OWNER_REF]: spec.entityRef,
  };
  const metadata = (name: string, source?: V1ObjectMeta): V1ObjectMeta => ({
    name,
    namespace: environment.namespace,
    labels: { ...foreignLabels(source?.labels), ...labels },
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

  const shared = environment.shared ?? { configMaps: [], secrets: [] };
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
  renameReferences(
    podSpec,
    configMapNames,
    secretNames,
    shared,
    `Deployment ${quote(source.metadata?.name)}`,
  );
  // One account per service, shared by its tracks and releases: no version
  // labels, which would flip with every deploy of a branch.
  const accountName = spec.name;
  const mountToken = spec.serviceAccountToken === 'mount';
  const serviceAccount: V1ServiceAccount = {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: {
      name: accountName,
      namespace: environment.namespace,
      // The manifest's annotations are not kept: on a cloud cluster they bind
      // the account to a cloud identity, which is the platform team's to grant.
      labels: {
        ...foreignLabels(manifest.serviceAccount?.metadata?.labels),
        ...identityLabels,
      },
      annotations: { [ANNOTATION_OWNER_REF]: spec.entityRef },
    },
    automountServiceAccountToken: mountToken,
  };
  const accountNames = new Set([
    accountName,
    ...(manifest.serviceAccount
      ? [manifest.serviceAccount.metadata!.name!]
      : []),
  ]);
  runAsServiceAccount(
    podSpec,
    accountName,
    accountNames,
    mountToken,
    `Deployment ${quote(source.metadata?.name)}`,
  );
  const main =
    podSpec.containers.find(c => c.name === spec.name) ?? podSpec.containers[0];
  main.image = input.imageRef;
  const affinity = withAntiAffinity(
    podSpec.affinity,
    spec.antiAffinity,
    podSelector,
  );
  if (affinity) podSpec.affinity = affinity;
  withShutdownDelay(podSpec, environment.shutdownDelaySeconds ?? 0);

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
          labels: {
            ...foreignLabels(template?.labels),
            ...labels,
            ...podSelector,
          },
          annotations: {
            ...foreign(template?.annotations),
            ...annotations,
            [ANNOTATION_CONFIG_HASH]: configHash,
            ...(input.restartedAt
              ? { [ANNOTATION_RESTARTED_AT]: input.restartedAt }
              : {}),
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
      shared,
      runAs: podSpecOfJob =>
        runAsServiceAccount(
          podSpecOfJob,
          accountName,
          accountNames,
          mountToken,
          `Job ${quote(manifest.smokeTest?.metadata?.name)}`,
        ),
    });

  return {
    workloadName,
    serviceName,
    serviceAccount,
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
    shared: { configMaps: string[]; secrets: string[] };
    runAs: (podSpec: V1PodSpec) => void;
  },
): V1Job {
  const sourceSpec = source.spec!;
  const podSpec: V1PodSpec = structuredClone(sourceSpec.template.spec!);
  renameReferences(
    podSpec,
    options.configMapNames,
    options.secretNames,
    options.shared,
    `Job ${quote(source.metadata?.name)}`,
  );
  options.runAs(podSpec);
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
            ...foreignLabels(template?.labels),
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
