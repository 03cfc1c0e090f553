import type { DevCluster } from '@internal/devcluster';
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { kubectlJson } from './deliveryHarness';

/** Names of the plugin's tables (kd_*), on SQLite or PostgreSQL. */
async function pluginTables(knex: Knex): Promise<string[]> {
  const client = String(knex.client.config.client);
  const rows: Array<{ name: string }> = client.includes('sqlite')
    ? await knex.raw(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'kd\\_%' ESCAPE '\\'",
      )
    : (
        await knex.raw(
          "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'kd\\_%'",
        )
      ).rows;
  return rows.map(r => r.name).sort();
}

/**
 * Every row of every plugin table, as sorted JSON lines per table: two
 * snapshots are equal only if nothing was inserted, updated or deleted.
 */
export async function databaseSnapshot(
  knex: Knex,
): Promise<Record<string, string[]>> {
  const snapshot: Record<string, string[]> = {};
  for (const table of await pluginTables(knex)) {
    const rows = await knex(table).select();
    snapshot[table] = rows.map(row => JSON.stringify(row)).sort();
  }
  return snapshot;
}

/** Row counts per plugin table, for messages and figures. */
export function rowCounts(snapshot: Record<string, string[]>) {
  return Object.fromEntries(
    Object.entries(snapshot).map(([table, rows]) => [table, rows.length]),
  );
}

const WRITABLE_KINDS = [
  'deployments.apps',
  'services',
  'serviceaccounts',
  'configmaps',
  'secrets',
  'jobs.batch',
  'poddisruptionbudgets.policy',
  'virtualservices.networking.istio.io',
  'gateways.networking.istio.io',
];

/**
 * What a writer of the given namespaces could have changed, one line per
 * object: kind, namespace, name, uid, the spec generation (Deployments, Jobs)
 * or resourceVersion (everything else, which no controller rewrites), and a
 * hash of the managedFields of every manager except the controllers' status
 * updates. Equal snapshots mean nobody created, deleted, applied or updated
 * any of these objects in between.
 */
export async function clusterSnapshot(
  cluster: DevCluster,
  namespaces: string[],
  labelSelector?: string,
): Promise<string[]> {
  const lines: string[] = [];
  for (const namespace of namespaces) {
    const list = await kubectlJson(cluster, [
      '-n',
      namespace,
      'get',
      WRITABLE_KINDS.join(','),
      ...(labelSelector ? ['-l', labelSelector] : []),
    ]);
    for (const item of list.items) {
      const meta = item.metadata;
      const version =
        item.kind === 'Deployment' || item.kind === 'Job'
          ? `generation ${meta.generation}`
          : `resourceVersion ${meta.resourceVersion}`;
      const writers = (meta.managedFields ?? []).filter(
        (f: any) => f.subresource !== 'status',
      );
      const managed = createHash('sha256')
        .update(JSON.stringify(writers))
        .digest('hex')
        .slice(0, 12);
      lines.push(
        `${item.kind} ${namespace}/${meta.name} uid ${meta.uid} ${version} managedFields ${managed}`,
      );
    }
  }
  return lines.sort();
}
