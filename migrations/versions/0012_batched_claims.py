"""scheduler: claims batched into one transaction (one commit, one version bump per job)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 12:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Advisory lock space of version bumps (``api.scheduler.TOUCH_LOCK_SPACE``, "pict").
TOUCH_LOCK_SPACE = 0x7069_6374

#: Several claims in one round trip (``api.scheduler``'s claim batcher): ``api.claim_task`` (revision 0009) for
#: each request in turn, in one transaction (each call sees the leases of the calls before it, and ``FOR UPDATE
#: SKIP LOCKED`` keeps other transactions off them), COMMIT once, then each leased job's version bumped once in
#: a transaction of its own, as ``api.claim_lease`` (revision 0011) does for one claim: ``synchronous_commit``
#: off for it alone, coalesced through the advisory lock, jobs in ascending order. The per-request arrays are
#: the node, its frame cap, and the moment the request was made with its lease deadline; the settings' figures
#: are shared by the batch. The answer ``leases`` has one element per request, in order: claim_task's row as a
#: JSON array (status, task_id, job_id, attempt, chain_job_id, seq, frames, settings, quote), status NULL when
#: nothing matches (a request that finds nothing does not affect the others).
CLAIM_LEASES_PROCEDURE = f"""
CREATE PROCEDURE api.claim_leases(p_nodes bigint[], p_max_frames integer[], p_tier2_min float8, p_trusted text[],
                                  p_now timestamptz[], p_deadline timestamptz[], p_margin_num numeric,
                                  p_margin_den numeric, p_cap numeric, INOUT leases jsonb DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    c record;
    v_out jsonb[] := '{{}}';
    v_jobs bigint[] := '{{}}';
    v_job bigint;
    v_when timestamptz;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_nodes, 1), 0) LOOP
        SELECT r.status, r.task_id, r.job_id, r.attempt, r.chain_job_id, r.seq, r.frames, r.settings, r.quote
        INTO c
        FROM api.claim_task(p_nodes[i], p_max_frames[i], p_tier2_min, p_trusted, p_now[i], p_deadline[i],
                            p_margin_num, p_margin_den, p_cap) AS r;
        v_out := v_out || jsonb_build_array(c.status, c.task_id, c.job_id, c.attempt, c.chain_job_id, c.seq,
                                            c.frames, c.settings, c.quote);
        IF c.status = 'leased' THEN
            v_jobs := v_jobs || c.job_id;
            v_when := greatest(v_when, p_now[i]);
        END IF;
    END LOOP;
    leases := to_jsonb(v_out);
    IF cardinality(v_jobs) = 0 THEN
        RETURN;
    END IF;
    COMMIT;  -- the leases are durable before the bumps: a bump holds its job's row lock only for itself
    PERFORM set_config('synchronous_commit', 'off', true);
    FOR v_job IN SELECT DISTINCT j FROM unnest(v_jobs) AS u(j) ORDER BY j LOOP
        UPDATE api.jobs AS j SET version = j.version + 1, updated_at = v_when
        WHERE j.job_id = v_job
          -- CASE: the lock is tried on this job's row only, whatever order the quals run in
          AND CASE WHEN j.job_id = v_job
                   THEN pg_try_advisory_xact_lock({TOUCH_LOCK_SPACE}, CAST(mod(j.job_id, 2147483647) AS integer)) END;
    END LOOP;
END
$$
"""

CLAIM_LEASES_SIGNATURE = (
    "api.claim_leases(bigint[], integer[], float8, text[], timestamptz[], timestamptz[], numeric, numeric,"
    " numeric, jsonb)"
)


def upgrade() -> None:
    """Apply this revision."""
    op.execute(CLAIM_LEASES_PROCEDURE)


def downgrade() -> None:
    """Revert this revision."""
    op.execute(f"DROP PROCEDURE {CLAIM_LEASES_SIGNATURE}")
