// @ts-check

/**
 * Identifier columns as wide as what the code writes into them. PostgreSQL
 * refuses a value longer than varchar(n) (SQLite ignores n), so a short
 * column made valid input fail there:
 *
 * - kd_deployments.lease_owner (64): the runner's owner is
 *   `<host name>-<pid>-<8 hex>`, and a host name may be 253 characters.
 * - kd_releases.channel (64): the name of a configured channel, of any length.
 * - the actor columns (255): `service:<subject>` of a service token, whose
 *   subject is not bounded.
 * - kd_gateway_certificates.serial (128): the hex serial of an uploaded
 *   certificate; X.509 parsers accept serials longer than the 20 octets
 *   RFC 5280 allows.
 *
 * They become text. Nullability, defaults (none) and comments stay as they are.
 */
const WIDENED = [
  { table: 'kd_releases', column: 'channel', width: 64 },
  { table: 'kd_releases', column: 'created_by', width: 255 },
  { table: 'kd_deployments', column: 'lease_owner', width: 64 },
  { table: 'kd_deployments', column: 'created_by', width: 255 },
  { table: 'kd_environment_events', column: 'actor', width: 255 },
  { table: 'kd_route_rules', column: 'owner', width: 255 },
  { table: 'kd_gateway_certificates', column: 'serial', width: 128 },
  { table: 'kd_gateway_certificates', column: 'uploaded_by', width: 255 },
];

/** SQLite does not enforce varchar(n): its columns already hold any length. */
function isSqlite(/** @type {import('knex').Knex} */ knex) {
  return /sqlite/.test(String(knex.client.config.client));
}

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  if (isSqlite(knex)) return;
  for (const { table, column } of WIDENED) {
    await knex.schema.alterTable(table, builder => {
      builder.text(column).alter({ alterNullable: false });
    });
  }
};

/**
 * Back to the old widths. A value that no longer fits is cut to the width
 * first (an active lease of a long owner is then lost and taken over once it
 * expires, which a deployment survives: its steps are idempotent).
 *
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  if (isSqlite(knex)) return;
  for (const { table, column, width } of WIDENED) {
    await knex(table)
      .whereRaw('length(??) > ?', [column, width])
      .update({ [column]: knex.raw('substr(??, 1, ?)', [column, width]) });
    await knex.schema.alterTable(table, builder => {
      builder.string(column, width).alter({ alterNullable: false });
    });
  }
};
