import { mockServices } from '@backstage/backend-test-utils';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConnection } from '../cluster/connection';
import { Reflector } from './Reflector';

/**
 * A stand-in API server for what the devcluster cannot be made to do on
 * demand: expire a resourceVersion. Lists answer the current pods; the first
 * watch answers 410 Gone as kube-apiserver does (an ERROR event with a
 * Status), later watches stay open.
 */
async function startFakeApiServer() {
  const requests: string[] = [];
  let pods = [pod('a', '10')];
  let listRv = '10';
  const open = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://localhost');
    const watching = url.searchParams.get('watch') === 'true';
    requests.push(
      watching ? `watch ${url.searchParams.get('resourceVersion')}` : 'list',
    );
    res.setHeader('Content-Type', 'application/json');
    if (!watching) {
      res.end(
        JSON.stringify({
          kind: 'PodList',
          metadata: { resourceVersion: listRv },
          items: pods,
        }),
      );
      return;
    }
    if (requests.filter(r => r.startsWith('watch')).length === 1) {
      res.end(
        `${JSON.stringify({
          type: 'ERROR',
          object: {
            kind: 'Status',
            status: 'Failure',
            reason: 'Expired',
            code: 410,
            message: 'too old resource version: 10 (20)',
          },
        })}\n`,
      );
      // What was missed meanwhile: only a new list shows it.
      pods = [pod('a', '10'), pod('b', '20')];
      listRv = '20';
      return;
    }
    open.add(res);
    res.write(`${JSON.stringify({ type: 'ADDED', object: pod('c', '21') })}\n`);
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>(resolve => {
        for (const res of open) res.destroy();
        server.close(() => resolve());
      }),
  };
}

function pod(name: string, resourceVersion: string) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'dev', resourceVersion, uid: `uid-${name}` },
  };
}

jest.setTimeout(30_000);

describe('Reflector', () => {
  it('lists again when a watch is answered 410 Gone, then watches from the new list', async () => {
    const server = await startFakeApiServer();
    const logger = mockServices.logger.mock();
    const reflector = new Reflector({
      connection: new KubeConnection(
        {
          name: 'dev',
          namespace: 'dev',
          url: server.url,
          serviceAccountToken: 'token',
          // client-node refuses plain HTTP unless TLS verification is off.
          skipTLSVerify: true,
        },
        logger,
      ),
      path: '/api/v1/namespaces/dev/pods',
      kind: 'Pods',
      environment: 'dev',
      labelSelector: 'app.kubernetes.io/managed-by=kube-delivery',
      logger,
    });
    reflector.start();
    try {
      for (let i = 0; i < 100 && !reflector.get('c'); i++) {
        await new Promise(resolve => setTimeout(resolve, 50));
      }
      expect(server.requests).toEqual(['list', 'watch 10', 'list', 'watch 20']);
      expect(reflector.stats()).toEqual({
        synced: true,
        objects: 3,
        lists: 2,
        gone: 1,
        errors: 0,
      });
      expect(reflector.get('b')?.metadata?.resourceVersion).toBe('20');
    } finally {
      await reflector.stop();
      await server.close();
    }
  });
});
