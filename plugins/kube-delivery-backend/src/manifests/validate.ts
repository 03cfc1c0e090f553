import { InputError } from '@backstage/errors';
import type {
  V1ConfigMap,
  V1Deployment,
  V1Job,
  V1Secret,
  V1Service,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import { isDnsLabel, MAX_REPLICAS } from '../catalog';
import { quote } from '../catalog/annotationValues';
import type { ManifestObjects } from './types';
import type { YamlDocument } from './yaml';

/** Marks the one Job of a manifest that is the release's smoke test. */
export const ANNOTATION_SMOKE_TEST = 'kube-delivery.io/smoke-test';

export type UnknownRecord = Record<string, unknown>;

export function isRecord(value: unknown): value is UnknownRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** Pod Security Standards "baseline": capabilities a container may add. */
const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);
/** Pod Security Standards "baseline": namespaced, safe sysctls. */
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);
/** Secret types a service may ship; never `kubernetes.io/service-account-token` (it mints tokens). */
const SECRET_TYPES = new Set([
  'Opaque',
  'kubernetes.io/tls',
  'kubernetes.io/dockerconfigjson',
  'kubernetes.io/dockercfg',
  'kubernetes.io/basic-auth',
  'kubernetes.io/ssh-auth',
]);

const ALLOWED_KINDS =
  'one apps/v1 Deployment, at most one v1 Service, at most one v1 ServiceAccount, v1 ConfigMaps and Secrets, ' +
  `and at most one batch/v1 Job annotated ${ANNOTATION_SMOKE_TEST}: "true"`;

/** Reports a problem in one document; `at` is a dotted path inside it. */
type Fail = (at: string, reason: string) => never;

/** Flags anything but absent or `false`: a string "true" is no safer than `true`. */
function isSet(value: unknown): boolean {
  return value !== undefined && value !== null && value !== false;
}

/** Pod Security Standards "baseline": SELinux types a pod may ask for. */
const BASELINE_SELINUX_TYPES = new Set([
  '',
  'container_t',
  'container_init_t',
  'container_kvm_t',
  'container_engine_t',
]);
const APPARMOR_ANNOTATION = 'container.apparmor.security.beta.kubernetes.io/';

function checkSecurityContext(context: unknown, at: string, fail: Fail): void {
  if (!isRecord(context)) return;
  const selinux = context.seLinuxOptions;
  if (isRecord(selinux)) {
    if (
      selinux.type !== undefined &&
      !BASELINE_SELINUX_TYPES.has(selinux.type as string)
    ) {
      fail(
        `${at}.seLinuxOptions.type`,
        `${quote(selinux.type)} is not allowed; only ${[
          ...BASELINE_SELINUX_TYPES,
        ]
          .filter(Boolean)
          .join(', ')}`,
      );
    }
    for (const field of ['user', 'role']) {
      if (selinux[field] !== undefined && selinux[field] !== '') {
        fail(`${at}.seLinuxOptions.${field}`, 'must not be set');
      }
    }
  }
  if (
    isRecord(context.seccompProfile) &&
    context.seccompProfile.type === 'Unconfined'
  ) {
    fail(`${at}.seccompProfile`, 'Unconfined is not allowed');
  }
  if (
    isRecord(context.appArmorProfile) &&
    context.appArmorProfile.type === 'Unconfined'
  ) {
    fail(`${at}.appArmorProfile`, 'Unconfined is not allowed');
  }
  if (
    isRecord(context.windowsOptions) &&
    isSet(context.windowsOptions.hostProcess)
  ) {
    fail(`${at}.windowsOptions.hostProcess`, 'host processes are not allowed');
  }
}

function checkContainer(
  container: unknown,
  at: string,
  fail: Fail,
  userNamespace: boolean,
): void {
  if (!isRecord(container) || typeof container.name !== 'string') {
    fail(at, 'must be a container with a name');
  }
  const context = container.securityContext;
  if (isRecord(context)) {
    if (isSet(context.privileged))
      fail(
        `${at}.securityContext.privileged`,
        'privileged containers are not allowed',
      );
    // An unmasked /proc is the pod's own inside a user namespace (hostUsers: false).
    if (
      context.procMount !== undefined &&
      context.procMount !== 'Default' &&
      !(userNamespace && context.procMount === 'Unmasked')
    ) {
      fail(
        `${at}.securityContext.procMount`,
        'only Default is allowed (or Unmasked in a pod with hostUsers: false)',
      );
    }
    const capabilities = isRecord(context.capabilities)
      ? context.capabilities
      : {};
    for (const capability of list(capabilities.add)) {
      if (!BASELINE_CAPABILITIES.has(capability as string)) {
        fail(
          `${at}.securityContext.capabilities.add`,
          `${quote(capability)} is not allowed`,
        );
      }
    }
    checkSecurityContext(context, `${at}.securityContext`, fail);
  }
  list(container.ports).forEach((port, i) => {
    if (isRecord(port) && port.hostPort !== undefined && port.hostPort !== 0) {
      fail(`${at}.ports[${i}].hostPort`, 'host ports are not allowed');
    }
  });
}

/** AppArmor by the older annotations: only the runtime's default or a local profile. */
function checkPodAnnotations(
  annotations: unknown,
  at: string,
  fail: Fail,
): void {
  if (!isRecord(annotations)) return;
  for (const [key, value] of Object.entries(annotations)) {
    if (
      key.startsWith(APPARMOR_ANNOTATION) &&
      value !== 'runtime/default' &&
      !(typeof value === 'string' && value.startsWith('localhost/'))
    ) {
      fail(
        `${at}.${key}`,
        `${quote(
          value,
        )} is not allowed; use runtime/default or localhost/<profile>`,
      );
    }
  }
}

/** The Pod Security Standards "baseline" profile, on a pod template's spec. */
function checkPodSpec(podSpec: unknown, at: string, fail: Fail): void {
  if (!isRecord(podSpec)) fail(at, 'is missing');
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC']) {
    if (isSet(podSpec[field]))
      fail(`${at}.${field}`, 'host namespaces are not allowed');
  }
  const containers = podSpec.containers;
  if (!Array.isArray(containers) || containers.length === 0) {
    fail(`${at}.containers`, 'must list at least one container');
  }
  for (const field of ['containers', 'initContainers', 'ephemeralContainers']) {
    list(podSpec[field]).forEach((c, i) =>
      checkContainer(
        c,
        `${at}.${field}[${i}]`,
        fail,
        podSpec.hostUsers === false,
      ),
    );
  }
  list(podSpec.volumes).forEach((volume, i) => {
    if (isRecord(volume) && volume.hostPath !== undefined) {
      fail(`${at}.volumes[${i}].hostPath`, 'hostPath volumes are not allowed');
    }
  });
  const context = podSpec.securityContext;
  checkSecurityContext(context, `${at}.securityContext`, fail);
  if (isRecord(context)) {
    list(context.sysctls).forEach((sysctl, i) => {
      const name = isRecord(sysctl) ? sysctl.name : undefined;
      if (!SAFE_SYSCTLS.has(name as string)) {
        fail(
          `${at}.securityContext.sysctls[${i}]`,
          `${quote(name)} is not a safe sysctl`,
        );
      }
    });
  }
}

function optionalInteger(
  value: unknown,
  min: number,
  max: number,
  at: string,
  fail: Fail,
): void {
  if (value === undefined) return;
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < min ||
    value > max
  ) {
    fail(at, `must be an integer from ${min} to ${max}`);
  }
}

function checkStringMap(value: unknown, at: string, fail: Fail): void {
  if (value === undefined) return;
  if (!isRecord(value)) fail(at, 'must be a map');
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== 'string')
      fail(`${at}.${key}`, 'must be a string (quote it)');
  }
}

/** A positive duration in seconds that fits the API's int32. */
function optionalSeconds(spec: UnknownRecord, field: string, fail: Fail) {
  optionalInteger(spec[field], 1, 2 ** 31 - 1, `spec.${field}`, fail);
}

/**
 * A workload (Deployment, Job): its spec, whose own fields `checkSpec`
 * checks, then its pod template's annotations and pod spec.
 */
function checkWorkload(
  object: UnknownRecord,
  fail: Fail,
  checkSpec: (spec: UnknownRecord) => void,
): void {
  const spec = isRecord(object.spec) ? object.spec : fail('spec', 'is missing');
  checkSpec(spec);
  const template = isRecord(spec.template)
    ? spec.template
    : fail('spec.template', 'is missing');
  if (isRecord(template.metadata)) {
    checkPodAnnotations(
      template.metadata.annotations,
      'spec.template.metadata.annotations',
      fail,
    );
  }
  checkPodSpec(template.spec, 'spec.template.spec', fail);
}

function checkDeployment(object: UnknownRecord, fail: Fail): void {
  checkWorkload(object, fail, spec => {
    optionalInteger(spec.replicas, 0, MAX_REPLICAS, 'spec.replicas', fail);
    optionalSeconds(spec, 'progressDeadlineSeconds', fail);
  });
}

function checkJob(object: UnknownRecord, fail: Fail): void {
  checkWorkload(object, fail, spec =>
    optionalSeconds(spec, 'activeDeadlineSeconds', fail),
  );
}

function checkService(object: UnknownRecord, fail: Fail): void {
  const spec = isRecord(object.spec) ? object.spec : {};
  // Public traffic enters through the Istio gateway, never a node port or load balancer.
  if (spec.type !== undefined && spec.type !== 'ClusterIP') {
    fail('spec.type', 'only ClusterIP is allowed');
  }
  if (spec.externalIPs !== undefined)
    fail('spec.externalIPs', 'is not allowed');
  for (const field of ['clusterIP', 'clusterIPs']) {
    const values = Array.isArray(spec[field])
      ? (spec[field] as unknown[])
      : [spec[field]];
    if (!values.every(v => v === undefined || v === '' || v === 'None')) {
      fail(
        `spec.${field}`,
        'may only be "None" (headless); addresses are assigned by the cluster',
      );
    }
  }
}

function checkConfigMap(object: UnknownRecord, fail: Fail): void {
  checkStringMap(object.data, 'data', fail);
  checkStringMap(object.binaryData, 'binaryData', fail);
}

function checkSecret(object: UnknownRecord, fail: Fail): void {
  if (object.type !== undefined && !SECRET_TYPES.has(object.type as string)) {
    fail('type', `must be one of ${[...SECRET_TYPES].join(', ')}`);
  }
  checkStringMap(object.data, 'data', fail);
  checkStringMap(object.stringData, 'stringData', fail);
}

/**
 * Checks a service's manifest documents and sorts them by kind. Only what a
 * service needs to run is accepted (see ALLOWED_KINDS), inside the release's
 * namespace, under the Pod Security Standards baseline; anything else is an
 * InputError naming the document and the reason.
 */
export function checkManifestObjects(
  documents: YamlDocument[],
  context = '',
): ManifestObjects {
  const configMaps: V1ConfigMap[] = [];
  const secrets: V1Secret[] = [];
  let deployment: V1Deployment | undefined;
  let service: V1Service | undefined;
  let smokeTest: V1Job | undefined;
  let serviceAccount: V1ServiceAccount | undefined;

  for (const { number, data } of documents) {
    let described = `Manifest document ${number}${context}`;
    const fail: Fail = (at, reason) => {
      throw new InputError(`${described}: ${at ? `${at} ` : ''}${reason}`);
    };
    if (!isRecord(data)) fail('', 'is not a Kubernetes object');
    const { apiVersion, kind } = data;
    const metadata = isRecord(data.metadata)
      ? data.metadata
      : fail('metadata', 'is missing');
    described += ` (${quote(kind)} ${quote(metadata.name)})`;
    if (!isDnsLabel(metadata.name)) {
      fail(
        'metadata.name',
        "must be an RFC 1123 label: lowercase letters, digits and '-', at most 63 characters",
      );
    }
    if (metadata.namespace !== undefined) {
      fail(
        'metadata.namespace',
        'must not be set: the environment decides the namespace',
      );
    }
    for (const field of ['labels', 'annotations'])
      checkStringMap(metadata[field], `metadata.${field}`, fail);

    const type = `${apiVersion}/${kind}`;
    if (type === 'apps/v1/Deployment') {
      if (deployment)
        fail('', 'is a second Deployment; a manifest holds exactly one');
      checkDeployment(data, fail);
      deployment = data as V1Deployment;
    } else if (type === 'v1/Service') {
      if (service)
        fail('', 'is a second Service; a manifest holds at most one');
      checkService(data, fail);
      service = data as V1Service;
    } else if (type === 'v1/ConfigMap') {
      if (configMaps.some(c => c.metadata?.name === metadata.name))
        fail('metadata.name', 'is used twice');
      checkConfigMap(data, fail);
      configMaps.push(data as V1ConfigMap);
    } else if (type === 'v1/Secret') {
      if (secrets.some(s => s.metadata?.name === metadata.name))
        fail('metadata.name', 'is used twice');
      checkSecret(data, fail);
      secrets.push(data as V1Secret);
    } else if (type === 'v1/ServiceAccount') {
      // Upstream manifests ship the service's account: it becomes the
      // service's own, written by Kube Delivery under the service's name.
      if (serviceAccount)
        fail('', 'is a second ServiceAccount; a manifest holds at most one');
      serviceAccount = data as V1ServiceAccount;
    } else if (type === 'batch/v1/Job') {
      const annotations = isRecord(metadata.annotations)
        ? metadata.annotations
        : {};
      if (annotations[ANNOTATION_SMOKE_TEST] !== 'true') {
        fail(
          '',
          `is a Job without the annotation ${ANNOTATION_SMOKE_TEST}: "true"; only a smoke test may be a Job`,
        );
      }
      if (smokeTest)
        fail('', 'is a second smoke-test Job; a manifest holds at most one');
      checkJob(data, fail);
      smokeTest = data as V1Job;
    } else {
      fail(
        '',
        `is ${quote(kind)} of apiVersion ${quote(
          apiVersion,
        )}, which is not allowed; a manifest holds ${ALLOWED_KINDS}`,
      );
    }
  }
  if (!deployment) {
    throw new InputError(
      `Manifest${context} has no Deployment; it must hold ${ALLOWED_KINDS}`,
    );
  }
  return {
    deployment,
    service,
    configMaps,
    secrets,
    smokeTest,
    ...(serviceAccount ? { serviceAccount } : {}),
  };
}
