import { mockServices } from '@backstage/backend-test-utils';
import type { Knex } from 'knex';
import os from 'node:os';
import { DatabaseCertificateStore } from '../certificates/CertificateStore';
import { DeploymentRunner } from '../delivery/DeploymentRunner';
import { EnvironmentEvents } from '../events';
import { DatabaseRouteStore } from '../routing/RouteStore';
import {
  TEST_DATABASE_IDS,
  createTestDatabases,
} from '../__testUtils__/testDatabases';
import { DatabaseDeliveryStore } from './DeliveryStore';

jest.setTimeout(60_000);

/*
 * What the code writes into identifier columns fits them on PostgreSQL too,
 * which refuses a value longer than varchar(n) (SQLite ignores n); the
 * migration 20261229000000_identifier_widths.js widened the short ones.
 */

/** The longest host name DNS allows: 253 characters in labels of 63. */
const LONG_HOST_NAME = [
  'a'.repeat(63),
  'b'.repeat(63),
  'c'.repeat(63),
  'd'.repeat(61),
].join('.');
/** A service token's actor: its subject is not bounded. */
const LONG_SERVICE_ACTOR = `service:external:${'ci-token-'.repeat(40)}`;

describe('identifier columns', () => {
  const databases = createTestDatabases();

  describe.each(TEST_DATABASE_IDS)('on %p', databaseId => {
    let knex: Knex;
    const database = () => ({ getClient: async () => knex } as any);

    beforeEach(async () => {
      knex = await databases.init(databaseId);
    });
    afterEach(async () => {
      jest.restoreAllMocks();
      await knex.destroy();
    });

    it('let a runner on a host with a 253-character name claim and renew a deployment lease', async () => {
      expect(LONG_HOST_NAME).toHaveLength(253);
      jest.spyOn(os, 'hostname').mockReturnValue(LONG_HOST_NAME);
      const { owner } = new DeploymentRunner({} as any);
      expect(owner.startsWith(`${LONG_HOST_NAME}-${process.pid}-`)).toBe(true);

      const store = await DatabaseDeliveryStore.create({
        database: database(),
      });
      const release = await store.createRelease({
        entityRef: 'component:default/adservice',
        version: '0.1.3',
        imageRef: 'example/adservice:0.1.3',
        channel: 'default',
        createdBy: 'user:default/ada',
        snapshot: { spec: { name: 'adservice' } },
      });
      const deployment = await store.createDeployment({
        entityRef: 'component:default/adservice',
        environment: 'dev',
        track: 'mainline',
        releaseId: release.id,
        version: release.version,
        kind: 'deploy',
        strategy: 'rolling',
        createdBy: 'user:default/ada',
      });

      const claimed = await store.claimNext(owner, 10_000);
      expect(claimed).toMatchObject({ id: deployment.id, leaseOwner: owner });
      expect(await store.renewLease(deployment.id, owner, 10_000)).toBe(true);
      expect(
        await store.updateDeployment(deployment.id, owner, {
          status: 'succeeded',
          finishedAt: Date.now(),
          freeLease: true,
        }),
      ).toBe(true);
      expect((await store.getDeployment(deployment.id)).status).toBe(
        'succeeded',
      );
    });

    it('keep a long configured channel name and the actor of a service token with a long subject', async () => {
      const store = await DatabaseDeliveryStore.create({
        database: database(),
      });
      const channel = `nightly-${'x'.repeat(120)}`;
      const release = await store.createRelease({
        entityRef: 'component:default/adservice',
        version: '0.1.3-nightly',
        imageRef: 'example/adservice:0.1.3-nightly',
        channel,
        branch: 'nightly',
        createdBy: LONG_SERVICE_ACTOR,
        snapshot: { spec: { name: 'adservice' } },
      });
      expect(release).toMatchObject({
        channel,
        createdBy: LONG_SERVICE_ACTOR,
      });
      const deployment = await store.createDeployment({
        entityRef: 'component:default/adservice',
        environment: 'dev',
        track: 'nightly',
        releaseId: release.id,
        version: release.version,
        kind: 'deploy',
        strategy: 'rolling',
        createdBy: LONG_SERVICE_ACTOR,
      });
      expect((await store.getDeployment(deployment.id)).createdBy).toBe(
        LONG_SERVICE_ACTOR,
      );

      const timeline = new EnvironmentEvents(
        await database().getClient(),
        mockServices.logger.mock(),
      );
      await timeline.record({
        environment: 'dev',
        kind: 'route-changed',
        message: 'Rule added',
        details: {},
        actor: LONG_SERVICE_ACTOR,
      });
      const events = await timeline.list({ environment: 'dev', limit: 10 });
      expect(events.items.map(e => e.actor)).toEqual([LONG_SERVICE_ACTOR]);

      const routes = await DatabaseRouteStore.create({ database: database() });
      const rule = await routes.create({
        entityRef: 'component:default/adservice',
        environment: 'dev',
        service: 'adservice',
        branch: 'myfeature',
        kind: 'cookie',
        key: 'kd-branch',
        value: 'myfeature',
        owner: LONG_SERVICE_ACTOR,
        expiresAt: new Date(Date.now() + 60_000).toISOString(),
      });
      expect((await routes.get(rule.id))?.owner).toBe(LONG_SERVICE_ACTOR);
    });

    it('keep the serial of a certificate longer than 20 octets, as X.509 parsers accept', async () => {
      const certificates = await DatabaseCertificateStore.create({
        database: database(),
      });
      // 100 octets: Node's X509Certificate reads it as 200 hex digits.
      const serial = `7${'AB'.repeat(99)}C`;
      const record = await certificates.add({
        environment: 'dev',
        gateway: 'istio-system/ingressgateway',
        source: 'upload',
        secretName: 'kube-delivery-dev-tls',
        hosts: ['dev.boutique.example'],
        subject: 'CN=dev.boutique.example',
        sans: ['dev.boutique.example'],
        issuer: 'CN=Example Intermediate',
        serial,
        notBefore: '2026-11-01T00:00:00.000Z',
        notAfter: '2027-11-01T00:00:00.000Z',
        fingerprintSha256: 'AB:CD',
        keyDescription: 'ec P-256',
        warnings: [],
        uploadedBy: LONG_SERVICE_ACTOR,
      });
      expect(record).toMatchObject({ serial, uploadedBy: LONG_SERVICE_ACTOR });
      expect((await certificates.list('dev', 10))[0]).toMatchObject({
        serial,
        uploadedBy: LONG_SERVICE_ACTOR,
      });
    });
  });
});
