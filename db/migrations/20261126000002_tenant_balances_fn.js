/**
 * Tenant balances for the metrics scrape (the dealscale_a2a_tenant_credits gauge and the
 * "tenant credits below 1,000" alert). The app role cannot read other tenants' rows, so, like the
 * reconciler's housekeeping functions, this narrow SECURITY DEFINER function returns only ids and
 * balances, lowest first, capped at max_rows (and never more than 10,000).
 */

exports.up = async function up(knex) {
  const appRole = (knex.userParams && knex.userParams.appRole) || "dealscale_app";
  if (!/^[a-z_][a-z0-9_]*$/.test(appRole)) throw new Error(`bad app role name ${appRole}`);

  await knex.raw(`
    CREATE FUNCTION tenant_credit_balances(max_rows integer)
    RETURNS TABLE (tenant_id uuid, credits_balance_milli bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT id, credits_balance_milli FROM tenants
      ORDER BY credits_balance_milli, id
      LIMIT LEAST(GREATEST(max_rows, 0), 10000)
    $$;
  `);

  await knex.raw(`
    REVOKE ALL ON FUNCTION tenant_credit_balances(integer) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION tenant_credit_balances(integer) TO ${appRole};
  `);
};

exports.down = async function down(knex) {
  await knex.raw(`DROP FUNCTION IF EXISTS tenant_credit_balances(integer);`);
};
