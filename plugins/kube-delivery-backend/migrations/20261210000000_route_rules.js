// @ts-check

/**
 * Feature-branch routing rules: the source of truth the routing reconciler
 * renders each service's VirtualService from.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('kd_route_rules', table => {
    table.comment('Rules that send chosen requests of a service to a feature branch');
    table.string('id', 36).primary().comment('UUIDv7 of the rule');
    table.string('entity_ref', 255).notNullable().comment('Catalog entity ref');
    table.string('environment', 63).notNullable().comment('Environment name');
    table
      .string('service', 63)
      .notNullable()
      .comment('Mainline Kubernetes Service name, e.g. adservice');
    table
      .string('branch', 63)
      .notNullable()
      .comment('Branch slug (the track label of the branch Service)');
    table.string('kind', 16).notNullable().comment('cookie, header or baggage');
    table
      .string('key', 64)
      .notNullable()
      .comment('Cookie name, lowercase header name or baggage key');
    table.string('value', 128).notNullable().comment('The value matched exactly');
    table.string('owner', 255).notNullable().comment('User or service that created it');
    table.bigInteger('created_at').notNullable().comment('Epoch milliseconds');
    table
      .bigInteger('expires_at')
      .notNullable()
      .comment('Epoch milliseconds after which the rule no longer applies');
    table.unique(['entity_ref', 'environment', 'kind', 'key', 'value'], {
      indexName: 'kd_route_rules_match_unique',
    });
    table.index(['entity_ref', 'environment'], 'kd_route_rules_service');
    table.index(['expires_at'], 'kd_route_rules_expiry');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('kd_route_rules');
};
