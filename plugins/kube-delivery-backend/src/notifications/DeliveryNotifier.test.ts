import { mockServices } from '@backstage/backend-test-utils';
import type { Entity } from '@backstage/catalog-model';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import type {
  NotificationSendOptions,
  NotificationService,
} from '@backstage/plugin-notifications-node';
import { ConfigReader } from '@backstage/config';
import { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import type { EnvironmentConfig } from '../config/environments';
import { readNotificationSettings } from './config';
import { DeliveryNotifier, ownerOf } from './DeliveryNotifier';
import { entityTabLink, safeText } from './messages';

const environments = new EnvironmentRegistry([
  { name: 'dev', protected: false } as EnvironmentConfig,
  { name: 'production', protected: true } as EnvironmentConfig,
]);

const service: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Component',
  metadata: { name: 'cart', namespace: 'shop' },
  spec: { owner: 'cart-team' },
};

function notifier(send: NotificationService['send']) {
  const logger = mockServices.logger.mock();
  return {
    logger,
    notifier: new DeliveryNotifier({
      notifications: { send },
      catalog: catalogServiceMock({ entities: [service] }),
      auth: mockServices.auth(),
      environments,
      settings: { platformGroup: 'group:default/platform' },
      logger,
    }),
  };
}

const deployment = {
  id: 'd-1',
  entityRef: 'component:shop/cart',
  environment: 'production',
  version: '2.0.0',
  kind: 'deploy' as const,
  createdBy: 'user:default/ada',
};

describe('DeliveryNotifier', () => {
  it('sends to the owner resolved from spec.owner, in the entity namespace', async () => {
    const sent: NotificationSendOptions[] = [];
    const { notifier: n } = notifier(async options => {
      sent.push(options);
    });
    n.deploymentFinished({ ...deployment, status: 'failed', message: 'boom' });
    await n.stop();
    expect(sent).toEqual([
      {
        recipients: { type: 'entity', entityRef: 'group:shop/cart-team' },
        payload: expect.objectContaining({
          title: 'cart 2.0.0 failed to deploy to production',
          link: '/catalog/shop/component/cart/kube-delivery/release-history',
          severity: 'high',
          topic: 'kube-delivery:deploy-failed',
          scope: 'kube-delivery:deployment:d-1',
        }),
      },
    ]);
  });

  it('never throws nor waits for a failing or hanging notifications service; a failure is a warning', async () => {
    const { notifier: failing, logger } = notifier(async () => {
      throw new Error('notifications backend is down');
    });
    failing.deploymentFinished({ ...deployment, status: 'failed' });
    await failing.stop();
    expect(logger.warn).toHaveBeenCalledWith(
      'notification not sent',
      expect.objectContaining({
        deploymentId: 'd-1',
        error: expect.stringContaining('notifications backend is down'),
      }),
    );

    const { notifier: hanging } = notifier(() => new Promise(() => {}));
    const started = Date.now();
    hanging.deploymentFinished({ ...deployment, status: 'rolled-back' });
    hanging.approvalRequested({ ...deployment, status: 'waiting-approval' });
    expect(Date.now() - started).toBeLessThan(50);
  });

  it('tells owners of a success only in a protected environment', async () => {
    const sent: NotificationSendOptions[] = [];
    const { notifier: n } = notifier(async options => {
      sent.push(options);
    });
    n.deploymentFinished({
      ...deployment,
      environment: 'dev',
      status: 'succeeded',
    });
    n.deploymentFinished({ ...deployment, status: 'succeeded' });
    await n.stop();
    expect(sent.map(s => s.payload.topic)).toEqual([
      'kube-delivery:deploy-succeeded',
    ]);
  });

  it('leaves the requester out of the approval request', async () => {
    const sent: NotificationSendOptions[] = [];
    const { notifier: n } = notifier(async options => {
      sent.push(options);
    });
    n.approvalRequested({ ...deployment, status: 'waiting-approval' });
    await n.stop();
    expect(sent[0].recipients).toEqual({
      type: 'entity',
      entityRef: 'group:shop/cart-team',
      excludeEntityRef: 'user:default/ada',
    });
    expect(sent[0].payload.topic).toBe('kube-delivery:approval-requested');
  });
});

describe('notification text from hostile input', () => {
  it('never carries key material, bearer tokens, JWTs or secret assignments', () => {
    const key =
      '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc\n-----END RSA PRIVATE KEY-----';
    const jwt =
      'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlLXZhbHVl';
    const text = safeText(
      `apply failed: ${key} with Authorization: Bearer abc.def-123 token=s3cr3t password: hunter2 sa ${jwt}`,
    );
    for (const secret of [
      'MIIEowIBAAKCAQEA7',
      'abc.def-123',
      's3cr3t',
      'hunter2',
      jwt,
      'PRIVATE KEY-----\n',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(text).toContain('apply failed');
    expect(text).toContain('[redacted');
  });

  it('cuts long text and removes control characters', () => {
    const text = safeText(`a\u0007b${'x'.repeat(5000)}`);
    expect(text.length).toBe(1000);
    expect(text.startsWith('a b')).toBe(true);
  });

  it('encodes every part of the link', () => {
    expect(entityTabLink('component:default/a', 'environments')).toBe(
      '/catalog/default/component/a/kube-delivery/environments',
    );
    expect(
      entityTabLink('component:default/../../evil?x=1#y', 'environments'),
    ).toBe(
      '/catalog/default/component/..%2F..%2Fevil%3Fx%3D1%23y/kube-delivery/environments',
    );
  });

  it('prefers the catalog-resolved owner relation; no owner is none', () => {
    expect(
      ownerOf({
        ...service,
        relations: [{ type: 'ownedBy', targetRef: 'group:default/real-owner' }],
      }),
    ).toBe('group:default/real-owner');
    expect(ownerOf({ ...service, spec: {} })).toBeUndefined();
    expect(ownerOf({ ...service, spec: { owner: 'group:' } })).toBe(undefined);
  });

  it('reads platformGroup as a full group ref; refuses a malformed one', () => {
    const read = (platformGroup?: string) =>
      readNotificationSettings(
        new ConfigReader({
          kubeDelivery: { notifications: { platformGroup } },
        }),
      );
    expect(read('platform')).toEqual({
      platformGroup: 'group:default/platform',
    });
    expect(read('group:ops/sre')).toEqual({ platformGroup: 'group:ops/sre' });
    expect(read(undefined)).toEqual({});
    expect(() => read('group:')).toThrow(/platformGroup/);
  });
});
