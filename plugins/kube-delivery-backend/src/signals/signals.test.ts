import {
  mockCredentials,
  type TestBackend,
} from '@backstage/backend-test-utils';
import { eventsServiceFactory } from '@backstage/plugin-events-node';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import signalsPlugin from '@backstage/plugin-signals-backend';
import { kubeDeliveryEntityChannel } from '@internal/plugin-kube-delivery-common';
import { getDevCluster, type DevCluster } from '@internal/devcluster';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { startDeliveryBackend } from '../__testUtils__/deliveryBackend';
import {
  entityWithManifest,
  uniqueName,
} from '../__testUtils__/deliveryHarness';
import { deployThroughApi } from '../__testUtils__/routingScenario';
import {
  createSharedDatabase,
  type SharedDatabase,
} from '../__testUtils__/sharedDatabase';
import { checkoutserviceManifest } from '../__testUtils__/smokeTestManifests';

jest.setTimeout(180_000);

/** The signals socket as a browser opens it; resolves whether it opened. */
function openSignals(port: number, timeoutMs: number) {
  const ws = new WebSocket(
    `ws://localhost:${port}/api/signals`,
    mockCredentials.user.token(),
  );
  const messages: Array<{ channel: string; message: unknown }> = [];
  ws.on('message', data => messages.push(JSON.parse(data.toString())));
  const opened = new Promise<boolean>(resolve => {
    ws.on('open', () => resolve(true));
    ws.on('error', () => resolve(false));
    setTimeout(() => resolve(false), timeoutMs);
  });
  return { ws, messages, opened };
}

/**
 * Live updates through Backstage's signals plugin (the real signals backend
 * next to Kube Delivery): a tab subscribed to a service's channel hears of
 * each change of its deployment while it runs, and nothing but that it
 * changed.
 */
describe("signals: an entity's delivery changed", () => {
  let cluster: DevCluster;
  let db: SharedDatabase;
  let backend: TestBackend;
  const sockets: WebSocket[] = [];
  const name = uniqueName('signals');
  const { entity } = entityWithManifest({
    name,
    manifest: checkoutserviceManifest(name),
  });

  beforeAll(async () => {
    cluster = await getDevCluster();
    db = await createSharedDatabase('sqlite');
    backend = await startDeliveryBackend({
      cluster,
      knex: db.knex,
      entities: [entity],
      permission: AuthorizeResult.ALLOW,
      features: [signalsPlugin, eventsServiceFactory],
    });
  });

  afterAll(async () => {
    sockets.forEach(ws => ws.terminate());
    await backend?.stop();
    await db?.destroy();
    await cluster?.kubectl([
      '-n',
      'dev',
      'delete',
      'deployment,service',
      name,
      '--wait=false',
    ]);
  });

  it('pushes a change for the queued deployment and its steps, with no data', async () => {
    const { port } = backend.server.address() as AddressInfo;
    // signals 0.3.19 starts listening for upgrades on the first upgrade
    // request it sees; the browser's client reconnects, as this does.
    let socket = openSignals(port, 1_000);
    sockets.push(socket.ws);
    if (!(await socket.opened)) {
      socket = openSignals(port, 5_000);
      sockets.push(socket.ws);
      await socket.opened;
    }
    expect(socket.ws.readyState).toBe(WebSocket.OPEN);
    const channel = kubeDeliveryEntityChannel(`component:default/${name}`);
    socket.ws.send(JSON.stringify({ action: 'subscribe', channel }));
    await new Promise(resolve => setTimeout(resolve, 300));

    const deployed = await deployThroughApi(backend, entity, '0.1.3');
    expect(deployed.status).toBe('succeeded');
    await new Promise(resolve => setTimeout(resolve, 500));
    // Changes within 250 ms are one signal; a deploy of four steps gives several.
    expect(socket.messages.length).toBeGreaterThanOrEqual(2);
    for (const received of socket.messages) {
      expect(received).toEqual({ channel, message: { type: 'changed' } });
    }
  });
});
