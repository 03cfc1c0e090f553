import type { Deployment } from '@internal/plugin-kube-delivery-common';
import type { DeploymentRecord } from '../database';

/** A deployment as the API shows it: without the runner's lease bookkeeping. */
export function toApiDeployment(d: DeploymentRecord): Deployment {
  const {
    track: _track,
    phase: _phase,
    previousReleaseId: _previous,
    leaseOwner: _owner,
    leaseExpiresAt: _expires,
    attempts: _attempts,
    cleanupAfter: _cleanup,
    ...deployment
  } = d;
  return deployment;
}
