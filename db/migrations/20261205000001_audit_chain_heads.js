/**
 * The audit chain's head, anchored outside the chain (issue 10).
 *
 * Each chain (a tenant's, or the NULL-tenant chain of refused anonymous requests) has one row in
 * audit_chain_heads: the seq and hash of its newest audit row. The chain trigger reads the previous
 * row's seq and hash from it and moves it in the same transaction as every insert. Deleting the
 * newest rows of audit_logs (possible only for an owner who disables its triggers) leaves the head
 * pointing past the end of the chain, which `audit:verify` reports;
 * hiding the deletion would take a second forged write here, which this table's own triggers refuse
 * (no DELETE, no TRUNCATE, no move backwards). A superuser who disables both and re-hashes the whole
 * tail is caught only by the SIEM copy.
 */

const ZERO = "00000000-0000-0000-0000-000000000000";

exports.up = async function up(knex) {
  const appRole = (knex.userParams && knex.userParams.appRole) || "dealscale_app";
  if (!/^[a-z_][a-z0-9_]*$/.test(appRole)) throw new Error(`bad app role name ${appRole}`);

  await knex.raw(`
    CREATE TABLE audit_chain_heads (
      chain uuid PRIMARY KEY,
      tenant_id uuid,
      seq bigint NOT NULL CHECK (seq >= 0),
      hash text NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now(),
      CHECK (chain = COALESCE(tenant_id, '${ZERO}'::uuid))
    );

    INSERT INTO audit_chain_heads (chain, tenant_id, seq, hash, updated_at)
    SELECT DISTINCT ON (COALESCE(tenant_id, '${ZERO}'::uuid))
           COALESCE(tenant_id, '${ZERO}'::uuid), tenant_id, seq, hash, created_at
    FROM audit_logs
    ORDER BY COALESCE(tenant_id, '${ZERO}'::uuid), seq DESC;

    CREATE OR REPLACE FUNCTION audit_chain() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
    DECLARE
      k uuid := COALESCE(NEW.tenant_id, '${ZERO}'::uuid);
      last_seq bigint;
      last_hash text;
    BEGIN
      -- The chain's writers queue on an advisory lock, as before: locking the head row instead
      -- (SELECT ... FOR UPDATE) writes that row a second time per audit row, which cost about a
      -- fifth of the insert rate in a pgbench comparison.
      PERFORM pg_advisory_xact_lock(7311, hashtext(k::text));
      SELECT h.seq, h.hash INTO last_seq, last_hash FROM audit_chain_heads h WHERE h.chain = k;
      IF NOT FOUND THEN
        INSERT INTO audit_chain_heads (chain, tenant_id, seq, hash) VALUES (k, NEW.tenant_id, 0, repeat('0', 64));
        last_seq := 0;
        last_hash := repeat('0', 64);
      END IF;
      NEW.seq := last_seq + 1;
      NEW.prev_hash := last_hash;
      NEW.created_at := clock_timestamp();
      NEW.hash := audit_row_digest(NEW.prev_hash, NEW);
      UPDATE audit_chain_heads SET seq = NEW.seq, hash = NEW.hash, updated_at = NEW.created_at WHERE chain = k;
      RETURN NEW;
    END $$;

    CREATE FUNCTION audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND NEW.chain = OLD.chain AND NEW.seq > OLD.seq THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'audit_chain_heads only moves forward: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$;
    CREATE TRIGGER audit_chain_heads_forward BEFORE UPDATE OR DELETE ON audit_chain_heads FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only();
    CREATE TRIGGER audit_chain_heads_no_truncate BEFORE TRUNCATE ON audit_chain_heads FOR EACH STATEMENT EXECUTE FUNCTION audit_head_forward_only();

    ALTER TABLE audit_chain_heads ENABLE ROW LEVEL SECURITY;
    ALTER TABLE audit_chain_heads FORCE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON audit_chain_heads FOR SELECT
      USING (tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid);
    GRANT SELECT ON audit_chain_heads TO ${appRole};
  `);
};

exports.down = async function down(knex) {
  await knex.raw(`
    CREATE OR REPLACE FUNCTION audit_chain() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
    DECLARE
      last_seq bigint;
      last_hash text;
    BEGIN
      PERFORM pg_advisory_xact_lock(7311, hashtext(COALESCE(NEW.tenant_id::text, '')));
      SELECT a.seq, a.hash INTO last_seq, last_hash FROM audit_logs a
        WHERE COALESCE(a.tenant_id, '${ZERO}'::uuid) = COALESCE(NEW.tenant_id, '${ZERO}'::uuid)
        ORDER BY a.seq DESC LIMIT 1;
      NEW.seq := COALESCE(last_seq, 0) + 1;
      NEW.prev_hash := COALESCE(last_hash, repeat('0', 64));
      NEW.created_at := clock_timestamp();
      NEW.hash := audit_row_digest(NEW.prev_hash, NEW);
      RETURN NEW;
    END $$;
    DROP TABLE IF EXISTS audit_chain_heads;
    DROP FUNCTION IF EXISTS audit_head_forward_only();
  `);
};
