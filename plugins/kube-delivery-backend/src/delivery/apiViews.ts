import type {
  Deployment,
  Release,
} from '@internal/plugin-kube-delivery-common';
import type { DeploymentRecord, ReleaseRecord } from '../database';

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

/** A release as the API shows it: without the snapshot it froze (see `GET …/releases/{id}`). */
export function toApiRelease(r: ReleaseRecord): Release {
  const { snapshot: _snapshot, ...release } = r;
  return release;
}
