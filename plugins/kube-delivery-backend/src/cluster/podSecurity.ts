import { ConflictError } from '@backstage/errors';
import type { V1Namespace } from '@kubernetes/client-node';

/** A Pod Security Standards level, as the pod-security.kubernetes.io/* labels name it. */
export type PodSecurityLevel = 'restricted' | 'baseline' | 'privileged';

export const POD_SECURITY_ENFORCE_LABEL = 'pod-security.kubernetes.io/enforce';

const LEVELS: readonly string[] = ['restricted', 'baseline', 'privileged'];

/**
 * The level Kubernetes' PodSecurity admission enforces in the namespace (its
 * `pod-security.kubernetes.io/enforce` label); undefined when the label is
 * missing or not a level. "privileged" enforces nothing. A default set in the
 * API server's admission configuration is not visible here.
 */
export function podSecurityLevel(
  namespace: V1Namespace,
): PodSecurityLevel | undefined {
  const value = namespace.metadata?.labels?.[POD_SECURITY_ENFORCE_LABEL];
  return value !== undefined && LEVELS.includes(value)
    ? (value as PodSecurityLevel)
    : undefined;
}

/**
 * Refuses (409) to deploy into a namespace where the API server does not
 * judge the pods' security: PodSecurity must enforce baseline or restricted.
 */
export function assertPodSecurityEnforced(
  namespace: V1Namespace | undefined,
  environment: { name: string; namespace: string },
): void {
  const level = namespace && podSecurityLevel(namespace);
  if (level === 'baseline' || level === 'restricted') return;
  const ns = environment.namespace;
  throw new ConflictError(
    `Namespace "${ns}" of environment "${
      environment.name
    }" does not enforce PodSecurity (${POD_SECURITY_ENFORCE_LABEL} is ${
      namespace ? level ?? 'not set' : 'unknown: the namespace does not exist'
    }), so Kubernetes would not refuse privileged pods there. ` +
      `Ask the platform team to run kubectl label --overwrite namespace ${ns} ${POD_SECURITY_ENFORCE_LABEL}=baseline pod-security.kubernetes.io/warn=baseline, ` +
      'or to set allowNamespaceWithoutPodSecurity on the environment',
  );
}
