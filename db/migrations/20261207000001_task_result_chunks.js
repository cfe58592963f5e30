/**
 * Result sets store their rows in chunks: one task_results row holds up to 500 consecutive items
 * (`items`, a jsonb array; `seq` is the position of its first item, `n` how many it holds). A row
 * per item cost a million inserts, each with its two foreign-key checks and index entry, for one
 * whole-tenant scoreLookalike: 11 of its 27 seconds. Existing rows become chunks of one.
 */
exports.up = async function up(knex) {
  await knex.raw(`
    ALTER TABLE task_results RENAME COLUMN item TO items;
    ALTER TABLE task_results ADD COLUMN n integer;
    UPDATE task_results SET items = jsonb_build_array(items), n = 1;
    ALTER TABLE task_results ALTER COLUMN n SET NOT NULL;
    ALTER TABLE task_results ADD CONSTRAINT task_results_chunk
      CHECK (n BETWEEN 1 AND 500 AND jsonb_typeof(items) = 'array' AND jsonb_array_length(items) = n);
  `);
};

exports.down = async function down(knex) {
  await knex.raw(`
    ALTER TABLE task_results DROP CONSTRAINT task_results_chunk;
    CREATE TEMPORARY TABLE task_result_items ON COMMIT DROP AS
      SELECT r.tenant_id, r.task_id, r.seq + e.o - 1 AS seq, e.x AS item
      FROM task_results r, jsonb_array_elements(r.items) WITH ORDINALITY AS e(x, o);
    DELETE FROM task_results;
    ALTER TABLE task_results DROP COLUMN n;
    ALTER TABLE task_results RENAME COLUMN items TO item;
    INSERT INTO task_results (tenant_id, task_id, seq, item) SELECT tenant_id, task_id, seq, item FROM task_result_items;
  `);
};
