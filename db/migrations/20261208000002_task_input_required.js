/**
 * A task can wait for its caller's input: an A2A message that names no skill becomes a task in
 * `input-required`, holding the question it asks (`input_request`: the skills and their input
 * schemas); the caller's next message on that task names the skill, and the task moves to
 * `submitted` with its credits reserved then. No credits are reserved while it waits.
 */
exports.up = async function up(knex) {
  await knex.raw(`
    ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;
    ALTER TABLE tasks ADD CONSTRAINT tasks_status_check
      CHECK (status IN ('input-required','submitted','working','completed','failed','cancelled','timeout'));
    ALTER TABLE tasks ADD COLUMN input_request jsonb;
  `);
};

exports.down = async function down(knex) {
  await knex.raw(`
    ALTER TABLE tasks DROP COLUMN input_request;
    ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;
    ALTER TABLE tasks ADD CONSTRAINT tasks_status_check
      CHECK (status IN ('submitted','working','completed','failed','cancelled','timeout'));
  `);
};
