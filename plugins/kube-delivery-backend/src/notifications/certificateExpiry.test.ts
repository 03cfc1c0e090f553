import { mockServices } from '@backstage/backend-test-utils';
import type {
  NotificationSendOptions,
  NotificationService,
} from '@backstage/plugin-notifications-node';
import { CertificateService, DatabaseCertificateStore } from '../certificates';
import type { EnvironmentConfig } from '../config/environments';
import { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import { createTestDatabases } from '../__testUtils__/testDatabases';
import { DeliveryNotifier } from './DeliveryNotifier';

const DAY = 24 * 60 * 60 * 1000;

/**
 * The scheduled expiry check on a real certificate store tells the platform
 * group, once, about a certificate about to expire; the cluster is not
 * asked (an uploaded certificate's expiry is in the store).
 */
describe('expiring gateway certificates', () => {
  const databases = createTestDatabases();

  it('are notified to the platform group once, by the expiry check', async () => {
    const knex = await databases.init('SQLITE_3');
    const store = await DatabaseCertificateStore.create({
      database: { getClient: async () => knex },
    });
    const environments = new EnvironmentRegistry([
      {
        name: 'staging',
        namespace: 'staging',
        protected: false,
        gateway: {
          namespace: 'istio-system',
          name: 'ingressgateway',
          hosts: ['staging.shop.example'],
        },
      } as EnvironmentConfig,
    ]);
    const sent: NotificationSendOptions[] = [];
    const send: NotificationService['send'] = async options => {
      sent.push(options);
    };
    const logger = mockServices.logger.mock();
    const notifier = new DeliveryNotifier({
      notifications: { send },
      catalog: {} as any, // platform notifications need no catalog lookup
      auth: mockServices.auth(),
      environments,
      settings: { platformGroup: 'group:default/platform' },
      logger,
    });
    const certificates = new CertificateService({
      environments,
      store,
      events: { record: async () => {} },
      cluster: () => {
        throw new Error('the expiry of an upload is read from the store');
      },
      settings: { expiryWarningDays: 30, checkIntervalMinutes: 60 },
      logger,
      notifier,
    });
    const now = new Date();
    const record = await store.add({
      environment: 'staging',
      gateway: 'istio-system/ingressgateway',
      source: 'upload',
      secretName: 'kube-delivery-staging-tls',
      hosts: ['staging.shop.example'],
      sans: ['staging.shop.example'],
      notAfter: new Date(now.getTime() + 10 * DAY + 3_600_000).toISOString(),
      warnings: [],
      uploadedBy: 'user:default/ada',
    });

    expect(await certificates.checkExpiry(now)).toBe(1);
    expect(await certificates.checkExpiry(now)).toBe(0);
    await notifier.stop();

    expect(sent).toEqual([
      {
        recipients: { type: 'entity', entityRef: 'group:default/platform' },
        payload: expect.objectContaining({
          title:
            'The certificate of gateway istio-system/ingressgateway in staging expires in 10 day(s)',
          severity: 'normal',
          topic: 'kube-delivery:certificate-expiring',
          scope: `kube-delivery:certificate:${record.id}`,
        }),
      },
    ]);
    expect(sent[0].payload.description).toContain('Upload a renewed one.');
  });
});
