/**
 * ds_create_tasks(batch): creates tasks of several tenants in one statement, the gateways' create
 * path, as ds_start_tasks and ds_finish_tasks do for starts and finishes. `batch` is
 * [{"tenant": uuid, "items": [...]}, ...], tenants sorted, each item a create in request order. Per
 * tenant, exactly as serial creates would: locks the tenant row, answers a request whose idempotency
 * key was used with the task it names, reserves each task's cost from what is left of the balance
 * (never below zero; a request that does not fit is refused and later cheaper ones may still fit),
 * then inserts the accepted tasks with their reserve ledger rows, first events and task_created audit
 * rows. Outcomes per item: created (task, event), existing (task, same_request), insufficient
 * (balance_milli) or no_tenant.
 *
 * An item's `status` is `submitted`, or `input-required` for an A2A task that waits for its caller to
 * name a skill (nothing reserved, audited as task_awaiting_input, its question in `input_request`).
 * An item with `continues` is that caller's answer: the waiting task (in a state of the item's
 * `allowed`) gets its skill, inputs, status (submitted, or input-required again with a new question)
 * and reservation by UPDATE instead of an INSERT, the same rows otherwise; a waiting task that moved
 * on meanwhile counts as a collision (DS409).
 *
 * Raises SQLSTATE DS409 when an idempotency key collides with another request's: twice in the batch,
 * or inserted by a concurrent transaction (the insert skipped it). The whole statement rolls back;
 * the caller runs each request again alone, where the key is then found.
 *
 * SECURITY INVOKER, under row-level security, setting app.current_tenant per tenant and putting back
 * the setting it found. Lock order per tenant: the tenant row (FOR NO KEY UPDATE, which a bulk lead
 * import's FOR KEY SHARE does not block), then the audit chain lock; the same as ds_finish_tasks.
 */
exports.up = async function up(knex) {
  const appRole = (knex.userParams && knex.userParams.appRole) || "dealscale_app";
  if (!/^[a-z_][a-z0-9_]*$/.test(appRole)) throw new Error(`bad app role name ${appRole}`);
  await knex.raw(`
    CREATE FUNCTION ds_create_tasks(batch jsonb)
    RETURNS TABLE (create_ord int, outcome text, task jsonb, event jsonb, same_request boolean, balance_milli bigint)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
    DECLARE
      b jsonb;
      tenant uuid;
      balance bigint;
      debit bigint;
      it record;
      used_keys text[];
      seen_keys text[];
      accepted int[];
      inserted int;
      previous text := current_setting('app.current_tenant', true);
    BEGIN
      FOR b IN SELECT value FROM jsonb_array_elements(batch) LOOP
        tenant := (b->>'tenant')::uuid;
        PERFORM set_config('app.current_tenant', tenant::text, true);
        SELECT credits_balance_milli INTO balance FROM tenants WHERE id = tenant FOR NO KEY UPDATE;
        IF NOT FOUND THEN
          RETURN QUERY SELECT (i->>'ord')::int, 'no_tenant', NULL::jsonb, NULL::jsonb, NULL::boolean, NULL::bigint
            FROM jsonb_array_elements(b->'items') AS i;
          CONTINUE;
        END IF;

        used_keys := '{}';
        FOR it IN
          SELECT r.ord, r.agent_id || '/' || r.idempotency_key AS k, to_jsonb(t) AS found, (t.type = r.type AND t.inputs = r.inputs) AS same
          FROM jsonb_to_recordset(b->'items') AS r(ord int, agent_id text, idempotency_key text, type text, inputs jsonb)
          JOIN tasks t ON t.agent_id = r.agent_id AND t.idempotency_key = r.idempotency_key
        LOOP
          used_keys := used_keys || it.k;
          create_ord := it.ord; outcome := 'existing'; task := it.found; event := NULL; same_request := it.same; balance_milli := NULL;
          RETURN NEXT;
        END LOOP;

        debit := 0;
        seen_keys := '{}';
        accepted := '{}';
        FOR it IN
          SELECT r.ord, r.agent_id || '/' || r.idempotency_key AS k, r.cost
          FROM jsonb_to_recordset(b->'items') AS r(ord int, agent_id text, idempotency_key text, cost bigint)
          ORDER BY r.ord
        LOOP
          IF it.k IS NOT NULL THEN
            CONTINUE WHEN it.k = ANY (used_keys);
            IF it.k = ANY (seen_keys) THEN
              RAISE EXCEPTION 'a concurrent request with the same idempotencyKey is in flight' USING ERRCODE = 'DS409';
            END IF;
            seen_keys := seen_keys || it.k;
          END IF;
          IF it.cost > balance THEN
            create_ord := it.ord; outcome := 'insufficient'; task := NULL; event := NULL; same_request := NULL; balance_milli := balance;
            RETURN NEXT;
            CONTINUE;
          END IF;
          balance := balance - it.cost;
          debit := debit + it.cost;
          accepted := accepted || it.ord;
        END LOOP;
        CONTINUE WHEN cardinality(accepted) = 0;

        RETURN QUERY
          WITH req AS (
            SELECT * FROM jsonb_to_recordset(b->'items') AS r(ord int, id uuid, agent_id text, type text, priority int, inputs jsonb,
              idempotency_key text, cost bigint, calling_agent text, callback_url text, ip text, user_agent text,
              context_id text, a2a_message jsonb, metadata jsonb, status text, input_request jsonb, continues boolean, allowed text[])
            WHERE r.ord = ANY (accepted)
          ), debited AS (
            UPDATE tenants SET credits_balance_milli = credits_balance_milli - debit, updated_at = now()
            WHERE id = tenant AND debit > 0
          ), ins AS (
            INSERT INTO tasks (id, tenant_id, agent_id, type, status, priority, inputs, idempotency_key, credits_reserved_milli,
                               calling_agent, callback_url, context_id, a2a_message, metadata, input_request)
            SELECT req.id, tenant, req.agent_id, req.type, COALESCE(req.status, 'submitted'), req.priority, req.inputs, req.idempotency_key, req.cost,
                   req.calling_agent, req.callback_url, req.context_id, req.a2a_message, COALESCE(req.metadata, '{}'::jsonb), req.input_request
            FROM req WHERE NOT COALESCE(req.continues, false) ORDER BY req.ord
            ON CONFLICT (tenant_id, agent_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING *
          ), upd AS (
            UPDATE tasks SET type = req.type, status = COALESCE(req.status, 'submitted'), priority = req.priority, inputs = req.inputs,
                   credits_reserved_milli = req.cost, calling_agent = req.calling_agent, callback_url = req.callback_url,
                   a2a_message = COALESCE(req.a2a_message, tasks.a2a_message), metadata = COALESCE(req.metadata, tasks.metadata),
                   input_request = req.input_request, updated_at = now()
            FROM req
            WHERE COALESCE(req.continues, false) AND tasks.id = req.id AND tasks.agent_id = req.agent_id AND tasks.status = ANY (req.allowed)
            RETURNING tasks.*
          ), made AS (
            SELECT * FROM ins UNION ALL SELECT * FROM upd
          ), ledger AS (
            INSERT INTO credit_ledger (tenant_id, task_id, kind, amount_milli)
            SELECT tenant, made.id, 'reserve', made.credits_reserved_milli FROM made WHERE made.credits_reserved_milli > 0
          ), ev AS (
            INSERT INTO task_events (tenant_id, task_id, kind, data)
            SELECT tenant, made.id, 'status', jsonb_build_object('status', made.status, 'progress', 0) FROM made JOIN req ON req.id = made.id ORDER BY req.ord
            RETURNING id, task_id, kind, data, created_at
          ), aud AS (
            INSERT INTO audit_logs (tenant_id, seq, event_type, calling_agent, target_agent, task_id, ip, user_agent,
                                    input_hash, credits_milli, details, prev_hash, hash)
            SELECT tenant, 0, CASE WHEN made.status = 'input-required' THEN 'task_awaiting_input' ELSE 'task_created' END,
                   req.calling_agent, req.agent_id, req.id, req.ip, req.user_agent,
                   encode(sha256(convert_to(req.inputs::text, 'UTF8')), 'hex'),
                   req.cost, jsonb_build_object('type', req.type, 'priority', req.priority), '', ''
            FROM req JOIN made ON made.id = req.id ORDER BY req.ord
          )
          SELECT req.ord, 'created', to_jsonb(made), to_jsonb(ev), NULL::boolean, NULL::bigint
          FROM made JOIN req ON req.id = made.id JOIN ev ON ev.task_id = made.id;
        GET DIAGNOSTICS inserted = ROW_COUNT;
        IF inserted <> cardinality(accepted) THEN
          RAISE EXCEPTION 'a concurrent request with the same idempotencyKey is in flight' USING ERRCODE = 'DS409';
        END IF;
      END LOOP;
      PERFORM set_config('app.current_tenant', COALESCE(previous, ''), true);
    END
    $$;
    REVOKE ALL ON FUNCTION ds_create_tasks(jsonb) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION ds_create_tasks(jsonb) TO ${appRole};
  `);
};

exports.down = async function down(knex) {
  await knex.raw("DROP FUNCTION IF EXISTS ds_create_tasks(jsonb)");
};
