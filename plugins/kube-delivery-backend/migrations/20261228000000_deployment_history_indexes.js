// @ts-check

/**
 * Indexes for reads that bench/history.ts showed sorting a whole service's
 * history: a page of deployments across environments (ordered by created_at,
 * id) and the status endpoint's last succeeded deployment per environment
 * and track (ordered by finished_at).
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('kd_deployments', table => {
    table.index(['entity_ref', 'created_at', 'id'], 'kd_deployments_entity_history');
    table.index(
      ['entity_ref', 'environment', 'track', 'status', 'finished_at'],
      'kd_deployments_last_succeeded',
    );
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.alterTable('kd_deployments', table => {
    table.dropIndex(['entity_ref', 'created_at', 'id'], 'kd_deployments_entity_history');
    table.dropIndex(
      ['entity_ref', 'environment', 'track', 'status', 'finished_at'],
      'kd_deployments_last_succeeded',
    );
  });
};
