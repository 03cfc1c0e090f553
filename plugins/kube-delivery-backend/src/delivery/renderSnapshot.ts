import type { ServiceSpec } from '../catalog';
import type { EnvironmentConfig } from '../config/environments';
import type { ReleaseRecord } from '../database';
import { parseManifest, renderRelease } from '../manifests';
import type { RenderedVersion } from './strategies/types';

/**
 * Renders a release's snapshot (its spec and manifest as they were when the
 * release was created) for an environment. Everything the render needs is
 * passed in; nobody changes what it returns.
 */
export function renderSnapshot(
  release: ReleaseRecord,
  environment: EnvironmentConfig,
  deployment: { deploymentId?: string; restartedAt?: string } = {},
): RenderedVersion {
  const spec = release.snapshot.spec as unknown as ServiceSpec;
  return {
    version: release.version,
    rendered: renderRelease({
      spec,
      version: release.version,
      imageRef: release.imageRef,
      manifest:
        release.snapshot.manifest !== undefined
          ? parseManifest(release.snapshot.manifest)
          : undefined,
      environment: {
        name: environment.name,
        namespace: environment.namespace,
        minReplicas: environment.minReplicas,
        shutdownDelaySeconds: environment.shutdownDelaySeconds,
        variables: environment.variables,
        shared: environment.shared,
      },
      releaseId: release.id,
      ...deployment,
    }),
  };
}
