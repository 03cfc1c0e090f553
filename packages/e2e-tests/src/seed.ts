import type { E2eBackend } from './backend';
import type { E2eService } from './service';

interface DeploymentAnswer {
  id: string;
  status: string;
  message?: string;
}

/**
 * Deploys a version through the API as CI does (the CI token), and waits
 * until the deployment succeeded: for setting the scene where the UI flow is
 * not what is being tested.
 */
export async function deployThroughApi(
  backend: E2eBackend,
  service: E2eService,
  environment: string,
  version: string,
): Promise<void> {
  const started = await backend.request<DeploymentAnswer>(
    'POST',
    `${service.apiPath}/deployments`,
    { environment, version },
  );
  const deadline = Date.now() + 180_000;
  for (;;) {
    const deployment = await backend.request<DeploymentAnswer>(
      'GET',
      `${service.apiPath}/deployments/${started.id}`,
    );
    if (deployment.status === 'succeeded') return;
    if (deployment.status !== 'queued' && deployment.status !== 'running') {
      throw new Error(
        `Deploying ${version} to ${environment} ${deployment.status}: ${deployment.message}`,
      );
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Deploying ${version} to ${environment} still ${deployment.status} after 180 s`,
      );
    }
    await new Promise(resolve => setTimeout(resolve, 250));
  }
}
