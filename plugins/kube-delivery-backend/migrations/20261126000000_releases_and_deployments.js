// @ts-check

/**
 * Releases (immutable snapshots) and deployments (durable jobs).
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('kd_releases', table => {
    table.comment('Immutable releases: a version and a snapshot of its manifest and configuration');
    table.string('id', 36).primary().comment('UUID of the release');
    table.string('entity_ref', 255).notNullable().comment('Catalog entity the release belongs to');
    table.string('version', 128).notNullable().comment('SemVer version');
    table.string('image_ref', 512).notNullable().comment('Image reference with tag or digest');
    table.string('channel', 64).notNullable().comment('Channel from the SemVer pre-release');
    table.string('branch', 128).nullable().comment('Feature branch (pre-release), null for the mainline');
    table.text('snapshot').notNullable().comment('JSON: service spec and manifest text at release time');
    table.bigInteger('created_at').notNullable().comment('Epoch milliseconds');
    table.string('created_by', 255).notNullable().comment('User or service that created it');
    table.unique(['entity_ref', 'version'], { indexName: 'kd_releases_entity_version' });
  });

  await knex.schema.createTable('kd_deployments', table => {
    table.comment('Deployments of releases to environments, run as leased jobs');
    table.string('id', 36).primary().comment('UUID of the deployment');
    table.string('entity_ref', 255).notNullable();
    table.string('environment', 63).notNullable();
    table.string('track', 63).notNullable().comment('mainline or the feature-branch slug');
    table.string('release_id', 36).notNullable().references('id').inTable('kd_releases');
    table.string('version', 128).notNullable();
    table.string('kind', 16).notNullable().comment('deploy, promote, rollback or restart');
    table.string('strategy', 16).notNullable();
    table.string('status', 16).notNullable().comment('queued, running, succeeded, failed, rolled-back');
    table.boolean('active').notNullable().defaultTo(true).comment('Queued or running; one per service, environment and track');
    table.string('phase', 32).notNullable().defaultTo('start').comment('Runner checkpoint');
    table.text('steps').notNullable().defaultTo('[]').comment('JSON array of steps');
    table.text('message').nullable();
    table.string('previous_release_id', 36).nullable().comment('Release serving before this deployment');
    table.string('created_by', 255).notNullable();
    table.bigInteger('created_at').notNullable();
    table.bigInteger('started_at').nullable();
    table.bigInteger('finished_at').nullable();
    table.string('lease_owner', 64).nullable().comment('Backend instance that holds the job');
    table.bigInteger('lease_expires_at').nullable();
    table.integer('attempts').notNullable().defaultTo(0).comment('Times the job was claimed');
    table.bigInteger('cleanup_after').nullable().comment('Blue-green: when the previous Deployment may be removed');
    table.index(['entity_ref', 'environment', 'created_at'], 'kd_deployments_history');
    table.index(['active', 'lease_expires_at'], 'kd_deployments_claimable');
  });
  // At most one queued or running deployment per service, environment and track:
  // the database refuses the second one, whichever backend replica inserts it.
  await knex.raw(
    'CREATE UNIQUE INDEX kd_deployments_one_active ON kd_deployments (entity_ref, environment, track) WHERE active',
  );
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('kd_deployments');
  await knex.schema.dropTable('kd_releases');
};
