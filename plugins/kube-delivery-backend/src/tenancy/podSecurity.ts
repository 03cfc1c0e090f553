import { ConflictError, NotAllowedError } from '@backstage/errors';
import type { EnvironmentCluster } from '../cluster';
import type { EnvironmentConfig } from '../config/environments';
import {
  podSecurityLevel,
  POD_SECURITY_ENFORCE_LABEL,
} from '../health/podSecurity';

/**
 * The check before every deploy that the API server itself judges the pods'
 * security in the environment's namespace (PodSecurity `enforce` at baseline
 * or restricted), unless the environment says it may deploy without.
 */
export async function assertPodSecurityEnforced(
  cluster: EnvironmentCluster,
  environment: EnvironmentConfig,
): Promise<void> {
  if (environment.allowNamespaceWithoutPodSecurity) return;
  const ns = environment.namespace;
  let namespace;
  try {
    namespace = await cluster.readNamespace();
  } catch (error) {
    if (!(error instanceof NotAllowedError)) throw error;
    throw new ConflictError(
      `Cannot tell whether namespace "${ns}" enforces PodSecurity: the environment's ServiceAccount may not get its Namespace. ` +
        `Grant it (see the environment's health check), or set allowNamespaceWithoutPodSecurity on environment "${environment.name}"`,
    );
  }
  const level = namespace && podSecurityLevel(namespace);
  if (level !== 'baseline' && level !== 'restricted') {
    throw new ConflictError(
      `Namespace "${ns}" of environment "${
        environment.name
      }" does not enforce PodSecurity (${POD_SECURITY_ENFORCE_LABEL} is ${
        level ?? 'not set'
      }), so Kubernetes would not refuse privileged pods there. ` +
        `Ask the platform team to run kubectl label --overwrite namespace ${ns} ${POD_SECURITY_ENFORCE_LABEL}=baseline pod-security.kubernetes.io/warn=baseline, ` +
        `or to set allowNamespaceWithoutPodSecurity on the environment`,
    );
  }
}
