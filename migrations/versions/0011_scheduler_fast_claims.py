"""scheduler: a claim and its version bump in one round trip, requirement columns by trigger, leaner task indexes

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 12:05:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

SCHEMA = "api"

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Advisory lock space of version bumps (``api.scheduler.TOUCH_LOCK_SPACE``, "pict").
TOUCH_LOCK_SPACE = 0x7069_6374

#: A claim as one statement sent (``api.scheduler.claim``): ``api.claim_task`` (revision 0009: matching, the
#: ``FOR UPDATE SKIP LOCKED`` task lock, the escrow check, the lease, its frames and the ``assign`` outbox row),
#: COMMIT, then the job's version bump of ``api.scheduler._TOUCH`` in a transaction of its own
#: (``synchronous_commit`` off for it alone, coalesced through the advisory lock). Before, the bump was a second
#: statement the client sent after the claim's answer: the same two transactions in the same order, one round
#: trip fewer. A procedure may COMMIT only when CALLed outside a transaction block (an autocommit connection).
#: The lease comes back in the INOUT parameters; ``status`` is NULL when nothing matches.
CLAIM_LEASE_PROCEDURE = f"""
CREATE PROCEDURE api.claim_lease(p_node bigint, p_max_frames integer, p_tier2_min float8, p_trusted text[],
                                 p_now timestamptz, p_deadline timestamptz, p_margin_num numeric,
                                 p_margin_den numeric, p_cap numeric,
                                 INOUT status text DEFAULT NULL, INOUT task_id bigint DEFAULT NULL,
                                 INOUT job_id bigint DEFAULT NULL, INOUT attempt integer DEFAULT NULL,
                                 INOUT chain_job_id text DEFAULT NULL, INOUT seq integer DEFAULT NULL,
                                 INOUT frames integer[] DEFAULT NULL, INOUT settings jsonb DEFAULT NULL,
                                 INOUT quote text DEFAULT NULL)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_job bigint;
BEGIN
    SELECT c.status, c.task_id, c.job_id, c.attempt, c.chain_job_id, c.seq, c.frames, c.settings, c.quote
    INTO status, task_id, job_id, attempt, chain_job_id, seq, frames, settings, quote
    FROM api.claim_task(p_node, p_max_frames, p_tier2_min, p_trusted, p_now, p_deadline, p_margin_num,
                        p_margin_den, p_cap) AS c;
    IF status IS DISTINCT FROM 'leased' THEN
        RETURN;  -- nothing matches (status NULL), or 'no facts'
    END IF;
    v_job := job_id;
    COMMIT;  -- the lease is durable before the bump: the bump holds the job's row lock only for itself
    PERFORM set_config('synchronous_commit', 'off', true);
    UPDATE api.jobs AS j SET version = j.version + 1, updated_at = p_now
    WHERE j.job_id = v_job
      -- CASE: the lock is tried on this job's row only, whatever order the quals run in
      AND CASE WHEN j.job_id = v_job
               THEN pg_try_advisory_xact_lock({TOUCH_LOCK_SPACE}, CAST(mod(j.job_id, 2147483647) AS integer)) END;
END
$$
"""


def _number(path: str) -> str:
    """SQL: the JSON number at ``path`` of the new row's ``settings`` as float8 (NULL when absent or not a number)."""
    number = f"jsonb_typeof(NEW.settings #> '{path}') = 'number'"
    return f"CASE WHEN {number} THEN CAST(NEW.settings #>> '{path}' AS float8) END"


#: The jobs' requirement columns (``tables.jobs.REQUIREMENTS``): name, type and the expression over the new row
#: that revision 0009 stored as a generated column.
REQUIREMENTS: tuple[tuple[str, type[sa.types.TypeEngine], str], ...] = (
    ("req_engine", sa.Text, "NEW.settings ->> 'engine'"),
    (
        "req_gpus",
        sa.Float,
        f"CASE WHEN NEW.settings ->> 'device' = 'GPU' THEN coalesce({_number('{hardware,gpu_count}')}, 1) ELSE 0 END",
    ),
    ("req_gpu_vendor", sa.Text, "coalesce(NEW.settings #>> '{hardware,gpu_vendor}', 'any')"),
    ("req_gpu_model", sa.Text, "nullif(lower(NEW.settings #>> '{hardware,gpu_model}'), '')"),
    ("req_vram_gb", sa.Float, _number("{hardware,min_vram_gb}")),
    ("req_ram_gb", sa.Float, _number("{hardware,min_ram_gb}")),
    ("req_location", sa.Text, "coalesce(NEW.settings ->> 'worker_location', 'any')"),
    ("req_tier", sa.Text, "coalesce(NEW.settings ->> 'pricing_tier', 'none')"),
)

#: The requirement columns were stored generated columns (revision 0009): PostgreSQL rebuilds the expressions of
#: all eight from their stored text and compiles them at every UPDATE of a job, a version bump's too (two per
#: claim and completion: about a tenth of PostgreSQL's CPU per claim). A trigger computes the same expressions
#: when a row is inserted or ``settings`` (or a requirement column itself: they stay derived) is written.
REQUIREMENTS_FUNCTION = (
    "CREATE FUNCTION api.jobs_requirements() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n"
    + "".join(f"    NEW.{name} := {expression};\n" for name, _, expression in REQUIREMENTS)
    + "    RETURN NEW;\nEND\n$$"
)
REQUIREMENTS_TRIGGER = (
    "CREATE TRIGGER jobs_requirements BEFORE INSERT OR UPDATE OF settings, "
    + ", ".join(name for name, _, _ in REQUIREMENTS)
    + " ON api.jobs FOR EACH ROW EXECUTE FUNCTION api.jobs_requirements()"
)

#: The predicate of the partial index ``tasks_open``: a task still to render.
OPEN = sa.text("state IN ('queued', 'assigned', 'rendering')")
#: The predicate of the partial index ``tasks_lease``: a leased task.
LEASED = sa.text("state IN ('assigned', 'rendering')")

CLAIM_LEASE_SIGNATURE = (
    "api.claim_lease(bigint, integer, float8, text[], timestamptz, timestamptz, numeric, numeric, numeric,"
    " text, bigint, bigint, integer, text, integer, integer[], jsonb, text)"
)


def upgrade() -> None:
    """Apply this revision."""
    op.execute(REQUIREMENTS_FUNCTION)
    for name, _, _ in REQUIREMENTS:  # the stored values stay
        op.execute(f"ALTER TABLE {SCHEMA}.jobs ALTER COLUMN {name} DROP EXPRESSION")
    op.execute(REQUIREMENTS_TRIGGER)
    op.execute(CLAIM_LEASE_PROCEDURE)
    # A job's open tasks keyed (job_id, task_id), not (job_id): with one key per job the entries were merged into
    # posting lists, whose TIDs cannot be marked dead one by one, so every "is any other task open?" look walked
    # the heap tuples of all the job's finished tasks; with distinct keys a scan marks them dead once.
    op.drop_index("tasks_open", table_name="tasks", schema=SCHEMA)
    op.create_index("tasks_open", "tasks", ["job_id", "task_id"], schema=SCHEMA, postgresql_where=OPEN)
    # Leases only: the sweep of expired leases is the index's one reader. As (state, lease_deadline) over every
    # task it took an entry at each change of state, most into the posting lists of ('queued', NULL) and
    # ('rendered', NULL), which grow with every task ever rendered.
    op.drop_index("tasks_lease", table_name="tasks", schema=SCHEMA)
    op.create_index("tasks_lease", "tasks", ["lease_deadline"], schema=SCHEMA, postgresql_where=LEASED)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("tasks_lease", table_name="tasks", schema=SCHEMA)
    op.create_index("tasks_lease", "tasks", ["state", "lease_deadline"], schema=SCHEMA)
    op.drop_index("tasks_open", table_name="tasks", schema=SCHEMA)
    op.create_index("tasks_open", "tasks", ["job_id"], schema=SCHEMA, postgresql_where=OPEN)
    op.execute(f"DROP PROCEDURE {CLAIM_LEASE_SIGNATURE}")
    op.execute(f"DROP TRIGGER jobs_requirements ON {SCHEMA}.jobs")
    op.execute("DROP FUNCTION api.jobs_requirements()")
    # A column cannot become generated again: drop and add each (in order, as revision 0009 added them).
    for name, type_, expression in REQUIREMENTS:
        op.drop_column("jobs", name, schema=SCHEMA)
        computed = sa.Computed(expression.replace("NEW.settings", "settings"), persisted=True)
        op.add_column("jobs", sa.Column(name, type_(), computed), schema=SCHEMA)
