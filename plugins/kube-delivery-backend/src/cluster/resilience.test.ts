/*
 * waitForRollout against a fake API server that is down, then overloaded, then
 * fine: polling survives API server restarts; non-transient errors stop it.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mockServices } from '@backstage/backend-test-utils';
import { NotAllowedError } from '@backstage/errors';
import { createEnvironmentCluster } from './EnvironmentCluster';
import { ClusterUnreachableError } from './errors';

const completeDeployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'dev', generation: 1, uid: 'u1' },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: 'web' } },
    template: {},
  },
  status: {
    observedGeneration: 1,
    replicas: 1,
    updatedReplicas: 1,
    readyReplicas: 1,
    availableReplicas: 1,
  },
};

/** The API server's answer when the ServiceAccount may not read the Deployment. */
const FORBIDDEN = {
  status: 403,
  body: {
    kind: 'Status',
    code: 403,
    message:
      'deployments.apps "web" is forbidden: User "system:serviceaccount:kube-delivery-system:deployer-dev" cannot get resource "deployments" in API group "apps" in the namespace "dev"',
  },
};

async function freePort(): Promise<number> {
  const probe = http.createServer();
  await new Promise<void>(resolve => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise(resolve => probe.close(resolve));
  return port;
}

type Handler = (
  path: string,
  req: http.IncomingMessage,
) => { status?: number; body: unknown };

function fakeApiServer(handler: Handler) {
  const auth: string[] = [];
  const server = http.createServer((req, res) => {
    auth.push(String(req.headers.authorization));
    const { status = 200, body } = handler(
      new URL(req.url!, 'http://x').pathname,
      req,
    );
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  return { server, auth };
}

function environment(port: number) {
  const logger = mockServices.logger.mock();
  const env = createEnvironmentCluster(
    {
      name: 'dev',
      namespace: 'dev',
      url: `http://127.0.0.1:${port}`,
      skipTLSVerify: true,
      serviceAccountToken: 'fake-token',
    },
    logger,
    { pollIntervalMs: 100, retry: { attempts: 2, baseDelayMs: 10 } },
  );
  return { env, logger };
}

it('keeps polling through connection refused and 503s until the rollout completes', async () => {
  const port = await freePort();
  const { env, logger } = environment(port);
  let deploymentGets = 0;
  const { server, auth } = fakeApiServer(path => {
    if (path === '/apis/apps/v1/namespaces/dev/deployments/web') {
      deploymentGets++;
      // 503 twice per poll (the request is retried once), for two polls.
      if (deploymentGets <= 4) {
        return {
          status: 503,
          body: {
            kind: 'Status',
            message: 'etcdserver: leader changed',
            code: 503,
          },
        };
      }
      return { body: completeDeployment };
    }
    return { body: { items: [] } };
  });
  // The API server "restarts": nothing listens for the first second.
  const started = setTimeout(() => server.listen(port, '127.0.0.1'), 1000);
  try {
    const status = await env.waitForRollout('web', { timeoutMs: 20_000 });
    expect(status).toMatchObject({
      complete: true,
      message: 'Rollout complete: 1 of 1 updated replicas are available',
    });
    expect(deploymentGets).toBe(5);
    expect(auth.every(a => a === 'Bearer fake-token')).toBe(true);
    const warnings = logger.warn.mock.calls.map(c => String(c[0])).join('\n');
    expect(warnings).toContain('Cannot reach the Kubernetes API server');
    expect(warnings).toContain('answered 503');
    expect(warnings).not.toContain('fake-token');
  } finally {
    clearTimeout(started);
    server.close();
  }
});

it('stops at once on a non-transient error', async () => {
  const port = await freePort();
  const { env } = environment(port);
  const { server } = fakeApiServer(() => FORBIDDEN);
  await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve));
  try {
    const started = Date.now();
    const error = await env
      .waitForRollout('web', { timeoutMs: 20_000 })
      .catch(e => e);
    expect(error).toBeInstanceOf(NotAllowedError);
    expect(error.message).toMatch(/may not get deployments\.apps/);
    expect(Date.now() - started).toBeLessThan(2000);
  } finally {
    server.close();
  }
});

it('rejects with "Cannot reach" when the cluster never answers before the timeout', async () => {
  const { env } = environment(await freePort());
  const error = await env
    .waitForRollout('web', { timeoutMs: 1500 })
    .catch(e => e);
  expect(error.constructor).toBe(ClusterUnreachableError);
  expect(error.message).toMatch(
    /^Cannot reach the Kubernetes API server of environment "dev"/,
  );
});

it('waits out 403s of a restarted API server once it has read the Deployment, until the rollout completes', async () => {
  const port = await freePort();
  const { env } = environment(port);
  let deploymentGets = 0;
  const { server } = fakeApiServer(path => {
    if (path !== '/apis/apps/v1/namespaces/dev/deployments/web') {
      return { body: { items: [] } };
    }
    deploymentGets++;
    if (deploymentGets === 1) {
      return {
        body: {
          ...completeDeployment,
          status: { ...completeDeployment.status, availableReplicas: 0 },
        },
      };
    }
    // Restarted: RBAC not synced yet.
    if (deploymentGets <= 3) {
      return FORBIDDEN;
    }
    return { body: completeDeployment };
  });
  await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve));
  try {
    const status = await env.waitForRollout('web', { timeoutMs: 20_000 });
    expect(status.complete).toBe(true);
    expect(deploymentGets).toBe(4);
  } finally {
    server.close();
  }
});

it('waits out 403s of a restarted API server when the poll has not read the Deployment yet but found the server gone', async () => {
  const port = await freePort();
  const { env } = environment(port);
  let deploymentGets = 0;
  const { server } = fakeApiServer(path => {
    if (path !== '/apis/apps/v1/namespaces/dev/deployments/web') {
      return { body: { items: [] } };
    }
    deploymentGets++;
    // Back, but RBAC not synced yet.
    if (deploymentGets <= 2) {
      return FORBIDDEN;
    }
    return { body: completeDeployment };
  });
  // The poll starts while nothing listens (the outage began before its first read).
  const started = setTimeout(() => server.listen(port, '127.0.0.1'), 500);
  try {
    const status = await env.waitForRollout('web', { timeoutMs: 20_000 });
    expect(status.complete).toBe(true);
    expect(deploymentGets).toBe(3);
  } finally {
    clearTimeout(started);
    server.close();
  }
});

it('retries a single request that is denied right after the API server was unreachable', async () => {
  const port = await freePort();
  const env = createEnvironmentCluster(
    {
      name: 'dev',
      namespace: 'dev',
      url: `http://127.0.0.1:${port}`,
      skipTLSVerify: true,
      serviceAccountToken: 'fake-token',
    },
    mockServices.logger.mock(),
    { retry: { attempts: 20, baseDelayMs: 50, maxDelayMs: 100 } },
  );
  let deploymentGets = 0;
  const { server } = fakeApiServer(path => {
    if (path !== '/apis/apps/v1/namespaces/dev/deployments/web') {
      return { body: { items: [] } };
    }
    deploymentGets++;
    if (deploymentGets === 1) {
      return {
        status: 401,
        body: { kind: 'Status', code: 401, message: 'Unauthorized' },
      };
    }
    return { body: completeDeployment };
  });
  const started = setTimeout(() => server.listen(port, '127.0.0.1'), 300);
  try {
    const status = await env.rolloutStatus('web');
    expect(status.complete).toBe(true);
    expect(deploymentGets).toBe(2);
  } finally {
    clearTimeout(started);
    server.close();
  }
});
