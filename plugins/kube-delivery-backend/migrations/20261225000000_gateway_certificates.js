// @ts-check

/**
 * Public facts about the certificates of environment gateways: one row per
 * upload or switch to cert-manager. Never the private key.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('kd_gateway_certificates', table => {
    table.comment(
      'Certificates of environment gateways (uploads and cert-manager switches); never keys',
    );
    table.string('id', 36).primary().comment('UUIDv7 of the record');
    table.string('environment', 63).notNullable().comment('Environment name');
    table
      .string('gateway', 317)
      .notNullable()
      .comment('The gateway, <namespace>/<name>');
    table.string('source', 16).notNullable().comment('upload or cert-manager');
    table
      .string('secret_name', 253)
      .notNullable()
      .comment('The kubernetes.io/tls Secret the gateway reads');
    table.text('hosts').notNullable().comment('JSON array of the gateway hosts');
    table.text('subject').nullable().comment('Subject of the leaf certificate');
    table.text('sans').notNullable().comment('JSON array of DNS SANs');
    table
      .text('issuer')
      .nullable()
      .comment('Issuer of the leaf, or the cert-manager issuer (Kind/name)');
    table.string('serial', 128).nullable().comment('Serial number, hex');
    table.bigInteger('not_before').nullable().comment('Epoch milliseconds');
    table.bigInteger('not_after').nullable().comment('Epoch milliseconds');
    table
      .string('fingerprint_sha256', 128)
      .nullable()
      .comment('SHA-256 fingerprint of the leaf, colon-separated hex');
    table.string('key_description', 32).nullable().comment('e.g. rsa 2048, ec P-256');
    table.text('warnings').notNullable().comment('JSON array of upload warnings');
    table.string('uploaded_by', 255).notNullable().comment('User or service');
    table.bigInteger('uploaded_at').notNullable().comment('Epoch milliseconds');
    table
      .bigInteger('expiry_flagged_at')
      .nullable()
      .comment('When the scheduled check flagged it as expiring (epoch ms)');
    table.index(['environment', 'uploaded_at'], 'kd_gateway_certificates_env');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('kd_gateway_certificates');
};
