/**
 * tasks.metadata: the design document's A2ATask.metadata, a JSON object the caller may attach when
 * creating a task (labels, a correlation id, the document's instanceId) and read back on every view.
 * Adding a column with a constant default rewrites nothing.
 */
exports.up = async function up(knex) {
  await knex.raw(`ALTER TABLE tasks ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object')`);
};

exports.down = async function down(knex) {
  await knex.raw("ALTER TABLE tasks DROP COLUMN metadata");
};
