import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import { eventsServiceFactory } from '@backstage/plugin-events-node';
import notificationsPlugin from '@backstage/plugin-notifications-backend';
import signalsPlugin from '@backstage/plugin-signals-backend';
import WebSocket from 'ws';

jest.setTimeout(60_000);

/** Opens the signals socket as the user; resolves once it is open. */
function openSignals(port: number, token: string, timeoutMs: number) {
  const ws = new WebSocket(`ws://localhost:${port}/api/signals`, token);
  const messages: unknown[] = [];
  ws.on('message', data => messages.push(JSON.parse(data.toString())));
  const opened = new Promise<boolean>(resolve => {
    ws.on('open', () => resolve(true));
    ws.on('error', () => resolve(false));
    setTimeout(() => resolve(false), timeoutMs);
  });
  return { ws, messages, opened };
}

/**
 * The versions pinned in package.json work together on backend-defaults
 * 0.18: the notifications backend stores a notification and signals pushes
 * it to the user's open socket at once, through the events service the
 * backend installs (backend-defaults' eventsServiceFactory).
 */
describe('notifications and signals in the backend', () => {
  it('pushes a new notification to the user over the signals WebSocket', async () => {
    const backend = await startTestBackend({
      features: [
        notificationsPlugin,
        signalsPlugin,
        eventsServiceFactory,
        mockServices.rootConfig.factory({
          data: { app: { baseUrl: 'http://localhost:3000' } },
        }),
      ],
    });
    const sockets: WebSocket[] = [];
    try {
      const address = backend.server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const token = mockCredentials.user.token();
      // signals 0.3.19 starts listening for upgrades on the first upgrade
      // request it sees; the browser's client reconnects, as this does.
      let socket = openSignals(port, token, 1_000);
      sockets.push(socket.ws);
      if (!(await socket.opened)) {
        socket = openSignals(port, token, 5_000);
        sockets.push(socket.ws);
        await socket.opened;
      }
      expect(socket.ws.readyState).toBe(WebSocket.OPEN);
      socket.ws.send(
        JSON.stringify({ action: 'subscribe', channel: 'notifications' }),
      );
      await new Promise(resolve => setTimeout(resolve, 300));

      const sent = await fetch(`http://localhost:${port}/api/notifications`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          Authorization: mockCredentials.service.header(),
        },
        body: JSON.stringify({
          recipients: { type: 'entity', entityRef: 'user:default/mock' },
          payload: { title: 'cart 1.2.3 failed to deploy to dev' },
        }),
      });
      expect(sent.status).toBe(200);
      const [stored] = (await sent.json()) as Array<{ id: string }>;

      const deadline = Date.now() + 5_000;
      while (!socket.messages.length && Date.now() < deadline) {
        await new Promise(resolve => setTimeout(resolve, 100));
      }
      expect(socket.messages).toEqual([
        {
          channel: 'notifications',
          message: { action: 'new_notification', notification_id: stored.id },
        },
      ]);
    } finally {
      sockets.forEach(ws => ws.terminate());
      await backend.stop();
    }
  });
});
