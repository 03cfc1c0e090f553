// @ts-check

/**
 * Environment health (the latest check per environment) and the environment
 * events timeline (health changes, refused promotions).
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('kd_environment_health', table => {
    table.comment('The latest health check of each environment');
    table.string('environment', 63).primary().comment('Environment name');
    table
      .string('status', 16)
      .notNullable()
      .comment('ok, warning or error: the worst finding');
    table
      .text('findings')
      .notNullable()
      .comment('JSON array of { check, status, message, action }');
    table
      .bigInteger('checked_at')
      .notNullable()
      .comment('Epoch milliseconds of the check');
  });

  await knex.schema.createTable('kd_environment_events', table => {
    table.comment(
      'Timeline of an environment: health changes and refused promotions',
    );
    table.string('id', 36).primary().comment('UUID of the event');
    table.string('environment', 63).notNullable();
    table
      .string('kind', 32)
      .notNullable()
      .comment('health-changed or promotion-refused');
    table.text('message').notNullable().comment('One line, for people');
    table
      .text('details')
      .notNullable()
      .defaultTo('{}')
      .comment('JSON object with the particulars');
    table
      .string('actor', 255)
      .notNullable()
      .comment('User, service or the scheduled health check');
    table.bigInteger('created_at').notNullable().comment('Epoch milliseconds');
    table.index(['environment', 'created_at'], 'kd_environment_events_history');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('kd_environment_events');
  await knex.schema.dropTable('kd_environment_health');
};
