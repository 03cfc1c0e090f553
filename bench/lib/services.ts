/*
 * Services put into every environment of the devcluster as a finished
 * deployment would leave them, for benchmarks that read many services
 * (bench:scale, bench:deliveries).
 */
import type { Entity } from '@backstage/catalog-model';
import type { DevCluster } from '@internal/devcluster';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { SharedDatabase } from '../../plugins/kube-delivery-backend/src/__testUtils__/sharedDatabase';
import type { DeliveryConfig } from '../../plugins/kube-delivery-backend/src/config/environments';
import { DatabaseDeliveryStore } from '../../plugins/kube-delivery-backend/src/database';
import { ReleaseService } from '../../plugins/kube-delivery-backend/src/delivery';
import { deleteBenchObjects, entityDirOf } from './cluster';
import { renderedObjects, writeList } from './render';

const ACTOR = 'user:default/bench';

export interface Service {
  name: string;
  entity: Entity;
}

/**
 * Releases the services and puts them into every environment as a finished
 * deployment would: the rendered objects applied server-side (kubectl, one
 * List per environment), and a succeeded deployment row. The deploy path
 * itself is bench:deploy's subject, not this one's.
 */
export async function deployServices(options: {
  cluster: DevCluster;
  config: DeliveryConfig;
  shared: SharedDatabase;
  services: Service[];
  workDir: string;
}) {
  const { cluster, config, shared, services } = options;
  const store = await DatabaseDeliveryStore.create({
    database: { getClient: async () => shared.knex } as any,
  });
  const releases = new ReleaseService({
    store,
    urlReader: {} as any,
    channels: config.channels,
  });
  const released = [];
  for (const service of services) {
    released.push(
      await releases.createRelease({
        entity: service.entity,
        version: '1.0.0',
        createdBy: ACTOR,
      }),
    );
  }
  for (const environment of config.environments) {
    const objects = released.flatMap(
      r => renderedObjects(r, environment).objects,
    );
    const file = writeList(
      path.join(options.workDir, `${environment.name}-${randomUUID()}.json`),
      objects,
    );
    const apply = await cluster.kubectl([
      'apply',
      '--server-side',
      '--field-manager=kube-delivery',
      '-n',
      environment.namespace,
      '-f',
      file,
    ]);
    if (apply.code !== 0)
      throw new Error(`kubectl apply in ${environment.name}: ${apply.stderr}`);
    // Finished a minute ago: status reads go to the cache, not to the cluster as right after a deployment.
    const now = Date.now() - 60_000;
    await shared.knex.batchInsert(
      'kd_deployments',
      released.map(release => ({
        id: randomUUID(),
        entity_ref: release.entityRef,
        environment: environment.name,
        track: 'mainline',
        release_id: release.id,
        version: release.version,
        kind: 'deploy',
        strategy: 'rolling',
        status: 'succeeded',
        active: false,
        phase: 'done',
        steps: '[]',
        message: 'Deployed by bench:scale',
        created_by: ACTOR,
        created_at: now,
        started_at: now,
        finished_at: now,
        attempts: 1,
      })),
      200,
    );
  }
}

/** Waits until every service's Deployment has all replicas ready in every environment. */
export async function waitReady(
  cluster: DevCluster,
  config: DeliveryConfig,
  names: Set<string>,
  timeoutMs = 600_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (const environment of config.environments) {
    for (;;) {
      const result = await cluster.kubectl([
        'get',
        'deployments',
        '-n',
        environment.namespace,
        '-l',
        'app.kubernetes.io/managed-by=kube-delivery',
        '-o',
        'json',
      ]);
      if (result.code !== 0) throw new Error(result.stderr);
      const items: any[] = JSON.parse(result.stdout).items.filter((d: any) =>
        names.has(d.metadata.name),
      );
      const ready = items.filter(
        d => (d.status?.readyReplicas ?? 0) >= d.spec.replicas,
      ).length;
      if (ready === names.size) break;
      if (Date.now() > deadline)
        throw new Error(
          `${environment.name}: ${ready} of ${names.size} Deployments ready after ${timeoutMs} ms`,
        );
      await new Promise(resolve => setTimeout(resolve, 1000));
    }
  }
}

/**
 * Deletes what the services left in every environment, the database and
 * the work and entity directories; returns what was deleted, in words.
 */
export async function cleanUpServices(options: {
  cluster: DevCluster;
  config: DeliveryConfig;
  shared: SharedDatabase;
  services: Service[];
  workDir: string;
}): Promise<string> {
  const { cluster, config, shared, services } = options;
  const names = services.map(s => s.name);
  const deleted: string[] = [];
  for (const environment of config.environments) {
    deleted.push(
      await deleteBenchObjects(cluster, environment.namespace, names),
    );
  }
  await shared.destroy().catch(() => {});
  for (const dir of [
    options.workDir,
    ...services.map(s => entityDirOf(s.entity)),
  ])
    fs.rmSync(dir, { recursive: true, force: true });
  const text = deleted.join('; ');
  console.log(`cleanup: ${text}`);
  return text;
}
