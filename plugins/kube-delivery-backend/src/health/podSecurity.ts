import type { V1Namespace } from '@kubernetes/client-node';
import {
  POD_SECURITY_ENFORCE_LABEL,
  podSecurityLevel,
} from '../cluster/podSecurity';
import type { HealthFinding } from './types';

export {
  POD_SECURITY_ENFORCE_LABEL,
  podSecurityLevel,
  type PodSecurityLevel,
} from '../cluster/podSecurity';

/** The labels an environment namespace should carry: Kubernetes enforces "baseline". */
export const BASELINE_LABELS: Readonly<Record<string, string>> = {
  [POD_SECURITY_ENFORCE_LABEL]: 'baseline',
  'pod-security.kubernetes.io/enforce-version': 'latest',
  'pod-security.kubernetes.io/warn': 'baseline',
  'pod-security.kubernetes.io/warn-version': 'latest',
};

/** The health finding `pod-security` for a namespace that was read. */
export function podSecurityFinding(namespace: V1Namespace): HealthFinding {
  const ns = namespace.metadata?.name ?? '';
  const level = podSecurityLevel(namespace);
  const value = namespace.metadata?.labels?.[POD_SECURITY_ENFORCE_LABEL];
  if (level === 'baseline' || level === 'restricted') {
    return {
      check: 'pod-security',
      status: 'ok',
      message: `Namespace "${ns}" enforces PodSecurity "${level}" (${POD_SECURITY_ENFORCE_LABEL}=${level})`,
      action: '',
    };
  }
  const labels = Object.entries(BASELINE_LABELS)
    .map(([key, v]) => `${key}=${v}`)
    .join(' ');
  let found: string;
  if (value === undefined) {
    found = `Namespace "${ns}" has no ${POD_SECURITY_ENFORCE_LABEL} label`;
  } else if (level === 'privileged') {
    found = `Namespace "${ns}" has ${POD_SECURITY_ENFORCE_LABEL}=privileged`;
  } else {
    found = `Namespace "${ns}" has ${POD_SECURITY_ENFORCE_LABEL}=${value}, which is not a Pod Security Standards level`;
  }
  return {
    check: 'pod-security',
    status: 'error',
    message: `${found}: Kubernetes does not enforce PodSecurity there, so pods may run privileged, share the node's network or PID namespace, mount host paths or add capabilities; Kube Delivery does not deploy into a namespace without enforcement`,
    action:
      `kubectl label --dry-run=server --overwrite namespace ${ns} ${POD_SECURITY_ENFORCE_LABEL}=baseline ` +
      `(lists the running pods that would violate it), then kubectl label --overwrite namespace ${ns} ${labels}. ` +
      `Pods with Istio sidecars need the Istio CNI node agent (or ambient mode) first: the istio-init container needs NET_ADMIN and NET_RAW, which baseline refuses`,
  };
}
