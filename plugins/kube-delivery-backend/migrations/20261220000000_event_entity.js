// @ts-check

/**
 * Environment events that concern one service (route and certificate changes
 * made for it) carry its entity ref, so a service's release history can list
 * them beside its deployments.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('kd_environment_events', table => {
    table
      .string('entity_ref', 255)
      .nullable()
      .comment('Catalog entity the event concerns; null for environment-wide events');
    table.index(['entity_ref', 'created_at'], 'kd_environment_events_entity');
  });
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.alterTable('kd_environment_events', table => {
    table.dropIndex(['entity_ref', 'created_at'], 'kd_environment_events_entity');
    table.dropColumn('entity_ref');
  });
};
