/**
 * Lead merges (DataEngineer dedupeLeads, apply mode): a duplicate is kept, marked as merged into its
 * survivor, rather than deleted, so history and anything that pointed at it can be traced. Live
 * leads are those with merged_into IS NULL.
 */

exports.up = async function up(knex) {
  await knex.raw(`
    ALTER TABLE leads ADD COLUMN merged_into uuid REFERENCES leads(id);
    ALTER TABLE leads ADD CONSTRAINT leads_not_merged_into_self CHECK (merged_into IS NULL OR merged_into <> id);
    CREATE INDEX leads_merged_into ON leads (merged_into) WHERE merged_into IS NOT NULL;
    CREATE INDEX leads_live_by_tenant ON leads (tenant_id, created_at) WHERE merged_into IS NULL;
  `);
};

exports.down = async function down(knex) {
  await knex.raw(`
    DROP INDEX IF EXISTS leads_live_by_tenant;
    DROP INDEX IF EXISTS leads_merged_into;
    ALTER TABLE leads DROP CONSTRAINT IF EXISTS leads_not_merged_into_self;
    ALTER TABLE leads DROP COLUMN IF EXISTS merged_into;
  `);
};
