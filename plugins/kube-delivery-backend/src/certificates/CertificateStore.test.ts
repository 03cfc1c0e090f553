import {
  TEST_DATABASE_IDS,
  createTestDatabases,
} from '../__testUtils__/testDatabases';
import {
  DatabaseCertificateStore,
  type NewCertificateRecord,
} from './CertificateStore';

jest.setTimeout(60_000);

const upload: NewCertificateRecord = {
  environment: 'dev',
  gateway: 'istio-system/ingressgateway',
  source: 'upload',
  secretName: 'kube-delivery-dev-tls',
  hosts: ['dev.boutique.example'],
  subject: 'CN=dev.boutique.example',
  sans: ['dev.boutique.example', '*.dev.boutique.example'],
  issuer: 'CN=Example Intermediate',
  serial: '0A1B2C3D4E5F',
  notBefore: '2026-11-01T00:00:00.000Z',
  notAfter: '2027-11-01T00:00:00.000Z',
  fingerprintSha256: 'AB:CD',
  keyDescription: 'ec P-256',
  warnings: ['expires soon'],
  uploadedBy: 'user:default/alice',
};

describe('DatabaseCertificateStore', () => {
  const databases = createTestDatabases();

  it.each(TEST_DATABASE_IDS)(
    'stores, lists newest first and flags once on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const store = await DatabaseCertificateStore.create({
        database: { getClient: async () => knex } as any,
      });
      const first = await store.add(upload);
      expect(first).toEqual({
        ...upload,
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        uploadedAt: expect.any(String),
      });
      const second = await store.add({
        environment: 'dev',
        gateway: 'istio-system/ingressgateway',
        source: 'cert-manager',
        secretName: 'kube-delivery-dev-tls',
        hosts: ['dev.boutique.example'],
        sans: ['dev.boutique.example'],
        issuer: 'ClusterIssuer/letsencrypt',
        warnings: [],
        uploadedBy: 'service:ci',
      });
      await store.add({ ...upload, environment: 'test' });

      expect((await store.list('dev', 10)).map(r => r.id)).toEqual([
        second.id,
        first.id,
      ]);
      expect(await store.active('dev')).toEqual(second);
      expect(await store.list('dev', 10)).toEqual([second, first]);
      expect(await store.active('production')).toBeUndefined();

      const at = new Date('2026-12-01T00:00:00.000Z');
      expect(await store.markExpiryFlagged(first.id, at)).toBe(true);
      expect(await store.markExpiryFlagged(first.id, new Date())).toBe(false);
      expect((await store.list('dev', 10))[1].expiryFlaggedAt).toBe(
        at.toISOString(),
      );
      await knex.destroy();
    },
  );
});
