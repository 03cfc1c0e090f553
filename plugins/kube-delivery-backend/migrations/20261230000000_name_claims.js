// @ts-check

/**
 * Claims of names in an environment: a service name or a gateway host
 * belongs to one catalog entity, so two entities never share one, even
 * before their objects exist. Services deployed before claims existed are
 * claimed for the entity that deployed them first.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('kd_name_claims', table => {
    table.comment('Which catalog entity owns a name in an environment');
    table.string('environment', 63).notNullable();
    table.string('kind', 16).notNullable().comment('service or host');
    table
      .string('name', 253)
      .notNullable()
      .comment('Service name or gateway host name');
    table
      .text('entity_ref')
      .notNullable()
      .comment('Catalog entity that holds the claim');
    table.bigInteger('claimed_at').notNullable().comment('Epoch milliseconds');
    table.primary(['environment', 'kind', 'name']);
    table.index(['entity_ref'], 'kd_name_claims_entity');
  });
  const deployments =
    /** @type {Array<{ environment: string, entity_ref: string, first: number | string }>} */ (
      /** @type {unknown} */ (
        await knex('kd_deployments')
          .select('environment', 'entity_ref')
          .min({ first: 'created_at' })
          .groupBy('environment', 'entity_ref')
          .orderBy('first', 'asc')
      )
    );
  const taken = new Set();
  for (const row of deployments) {
    const name = String(row.entity_ref).slice(
      String(row.entity_ref).lastIndexOf('/') + 1,
    );
    const key = `${row.environment}/${name}`;
    if (taken.has(key)) continue;
    taken.add(key);
    await knex('kd_name_claims').insert({
      environment: row.environment,
      kind: 'service',
      name,
      entity_ref: row.entity_ref,
      claimed_at: Number(row.first),
    });
  }
};

/** @param {import('knex').Knex} knex */
exports.down = async function down(knex) {
  await knex.schema.dropTable('kd_name_claims');
};
