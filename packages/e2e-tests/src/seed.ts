import type { E2eBackend } from './backend';
import { poll } from './poll';
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
  const deployment = await poll(
    () =>
      backend.request<DeploymentAnswer>(
        'GET',
        `${service.apiPath}/deployments/${started.id}`,
      ),
    d => d.status !== 'queued' && d.status !== 'running',
    {
      timeoutMs: 180_000,
      describe: (last, error) =>
        `Deploying ${version} to ${environment} not finished after 180 s: ${
          last?.status ?? error
        }`,
    },
  );
  if (deployment.status !== 'succeeded') {
    throw new Error(
      `Deploying ${version} to ${environment} ${deployment.status}: ${deployment.message}`,
    );
  }
}
