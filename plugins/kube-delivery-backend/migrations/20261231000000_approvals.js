// @ts-check

/**
 * Approvals for protected environments: a deployment, promotion or rollback
 * into one is stored with status `waiting-approval` (it holds its track, so a
 * second request is a 409 as for a queued one, but no runner claims it) until
 * another user approves it (`queued`), someone rejects it or it expires
 * (`rejected` / `expired`, finished). What was decided, by whom and when is
 * kept on the deployment; the history events are environment events.
 *
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('kd_deployments', table => {
    table
      .string('approval', 16)
      .nullable()
      .comment(
        'waiting, approved, rejected, expired or bypassed; null when the environment needs no approval',
      );
    table
      .bigInteger('approval_expires_at')
      .nullable()
      .comment(
        'Epoch milliseconds when a deployment waiting for approval expires',
      );
    table
      .text('approval_decided_by')
      .nullable()
      .comment(
        'User who approved, rejected or bypassed it; the expiry task for expired ones',
      );
    table
      .bigInteger('approval_decided_at')
      .nullable()
      .comment('Epoch milliseconds of the decision');
    table
      .text('approval_reason')
      .nullable()
      .comment('Why it was rejected, as the user wrote it');
    // The expiry task's query: waiting deployments past their expiry.
    table.index(
      ['status', 'approval_expires_at'],
      'kd_deployments_approval_expiry',
    );
  });
};

/**
 * Waiting deployments cannot be represented without the columns: they are
 * finished as expired first (they never ran, so nothing in a cluster
 * changes), then the columns go.
 *
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex('kd_deployments').where({ status: 'waiting-approval' }).update({
    status: 'expired',
    active: false,
    finished_at: Date.now(),
    message: 'Expired: approvals were removed from this installation',
  });
  await knex.schema.alterTable('kd_deployments', table => {
    table.dropIndex(
      ['status', 'approval_expires_at'],
      'kd_deployments_approval_expiry',
    );
  });
  await knex.schema.alterTable('kd_deployments', table => {
    table.dropColumn('approval_reason');
    table.dropColumn('approval_decided_at');
    table.dropColumn('approval_decided_by');
    table.dropColumn('approval_expires_at');
    table.dropColumn('approval');
  });
};
