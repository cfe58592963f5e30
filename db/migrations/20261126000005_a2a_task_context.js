/**
 * A2A context of a task: the contextId that groups a conversation's tasks, and the message that
 * started the task (its history in A2A terms). REST-created tasks have neither.
 */
exports.up = async function up(knex) {
  await knex.raw(`
    ALTER TABLE tasks ADD COLUMN context_id text, ADD COLUMN a2a_message jsonb;
    CREATE INDEX tasks_by_context ON tasks (tenant_id, agent_id, context_id, created_at DESC) WHERE context_id IS NOT NULL;
  `);
};

exports.down = async function down(knex) {
  await knex.raw(`
    DROP INDEX IF EXISTS tasks_by_context;
    ALTER TABLE tasks DROP COLUMN IF EXISTS context_id, DROP COLUMN IF EXISTS a2a_message;
  `);
};
