"""scheduler: indexes, columns and the claim function for fast task claims (schema ``api``)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 08:50:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "api"


def _fact_columns() -> tuple[sa.Column, ...]:
    """node_status columns holding the matching facts of the last heartbeat (NULL until the node's next one)."""
    return (
        sa.Column("engines", postgresql.ARRAY(sa.String(length=32)), nullable=True),
        sa.Column("gpu_count", sa.Integer(), nullable=True),
        sa.Column("gpu_vendor", sa.String(length=32), nullable=True),
        sa.Column("gpu_models", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("min_gpu_vram_gb", sa.Float(), nullable=True),
        sa.Column("ram_gb", sa.Float(), nullable=True),
        sa.Column("location", sa.String(length=32), nullable=True),
    )


def _number(path: str) -> str:
    """SQL: the JSON number at ``path`` of ``settings`` as float8 (NULL when absent or not a number)."""
    return f"CASE WHEN jsonb_typeof(settings #> '{path}') = 'number' THEN CAST(settings #>> '{path}' AS float8) END"


def _requirement_columns() -> tuple[sa.Column, ...]:
    """jobs columns generated from ``settings``: what a worker must have (api.scheduler.mismatch)."""
    gpus = f"CASE WHEN settings ->> 'device' = 'GPU' THEN coalesce({_number('{hardware,gpu_count}')}, 1) ELSE 0 END"
    return (
        sa.Column("req_engine", sa.Text(), sa.Computed("settings ->> 'engine'", persisted=True)),
        sa.Column("req_gpus", sa.Float(), sa.Computed(gpus, persisted=True)),
        sa.Column(
            "req_gpu_vendor",
            sa.Text(),
            sa.Computed("coalesce(settings #>> '{hardware,gpu_vendor}', 'any')", persisted=True),
        ),
        sa.Column(
            "req_gpu_model",
            sa.Text(),
            sa.Computed("nullif(lower(settings #>> '{hardware,gpu_model}'), '')", persisted=True),
        ),
        sa.Column("req_vram_gb", sa.Float(), sa.Computed(_number("{hardware,min_vram_gb}"), persisted=True)),
        sa.Column("req_ram_gb", sa.Float(), sa.Computed(_number("{hardware,min_ram_gb}"), persisted=True)),
        sa.Column(
            "req_location", sa.Text(), sa.Computed("coalesce(settings ->> 'worker_location', 'any')", persisted=True)
        ),
        sa.Column("req_tier", sa.Text(), sa.Computed("coalesce(settings ->> 'pricing_tier', 'none')", persisted=True)),
    )


#: The quote of ``api.scheduler.task_quote`` in exact arithmetic: ceil(price × minutes × margin), capped, at
#: least 1 (the node's multiplier cancels out exactly). ``minutes`` (float8) is taken at its exact binary value
#: (mantissa × 2^exponent, read from its IEEE bits: a cast to numeric would round it to 15 digits) and the margin
#: as the exact fraction ``margin_num / margin_den`` of the Python float; integer division rounds up once.
TASK_QUOTE_FUNCTION = """
CREATE FUNCTION api.task_quote(price numeric, minutes float8, margin_num numeric, margin_den numeric, cap numeric)
RETURNS numeric LANGUAGE plpgsql IMMUTABLE STRICT AS $$
DECLARE
    bits bigint := CAST(CAST(('x' || encode(float8send(minutes), 'hex')) AS bit(64)) AS bigint);
    e integer := CAST((bits >> 52) & 2047 AS integer);
    m numeric := bits & 4503599627370495;
    num numeric;
    den numeric := margin_den;
BEGIN
    IF e = 2047 THEN
        RAISE EXCEPTION 'task estimate % is not a finite number of minutes', minutes;
    END IF;
    IF e > 0 THEN
        m := m + 4503599627370496;  -- the implicit leading 1 of a normal number
    ELSE
        e := 1;  -- subnormal
    END IF;
    e := e - 1075;
    IF bits < 0 THEN
        m := -m;
    END IF;
    num := price * margin_num * m;
    IF e >= 0 THEN
        num := num * power(CAST(2 AS numeric), e);
    ELSE
        den := den * power(CAST(2 AS numeric), -e);
    END IF;
    IF num <= 0 THEN
        RETURN 1;
    END IF;
    RETURN greatest(1, least(cap, div(num + den - 1, den)));
END
$$
"""

#: One claim in one statement (``api.scheduler.claim``): the node's facts; the claimable jobs that match them
#: (``api.scheduler.mismatch`` in SQL over the jobs' ``req_*`` columns) in ``priority DESC, job_id`` order, each
#: with its first queued task (``priority DESC, seq``) not excluded for this node and not locked by another
#: claim (``FOR UPDATE SKIP LOCKED``); the escrow check (mirror budget − spent − reserved − quotes of pending
#: assignments ≥ the quote), pausing a job that cannot cover it and resuming a paused one that can; then the
#: lease, the frames and the ``assign`` outbox row. Answers one row: ``leased`` with the lease, or ``no facts``
#: (a heartbeat stored before revision 0009: the caller stores them and calls again); no row when nothing
#: matches. The task lock is a LATERAL under a bare LIMIT 1 so that a task is locked only in the job answered.
CLAIM_TASK_FUNCTION = """
CREATE FUNCTION api.claim_task(p_node bigint, p_max_frames integer, p_tier2_min float8, p_trusted text[],
                               p_now timestamptz, p_deadline timestamptz, p_margin_num numeric,
                               p_margin_den numeric, p_cap numeric)
RETURNS TABLE (status text, task_id bigint, job_id bigint, attempt integer, chain_job_id text, seq integer,
               frames integer[], settings jsonb, quote text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    c record;
    skip bigint[] := '{}';
    q numeric;
BEGIN
    -- Two statements per job tried (the match with its escrow figures, then the lease): each statement a
    -- plpgsql function runs costs more than the work most of them do.
    FOR i IN 1..200 LOOP  -- at most the 200 first candidate jobs
        SELECT j.job_id, j.state, j.chain_job_id, j.price_per_minute, j.settings,
               t.task_id, t.seq, t.frames, t.attempt, t.ref_minutes,
               m.budget - m.spent - m.reserved
               - (SELECT coalesce(sum(o.quote), 0) FROM api.chain_outbox AS o
                  WHERE o.job_id = j.job_id AND o.kind = 'assign' AND o.status = 'pending') AS available
        INTO c
        FROM api.node_status AS n
        CROSS JOIN LATERAL (
            SELECT j.job_id, j.state, j.chain_job_id, j.price_per_minute, j.settings, j.priority
            FROM api.jobs AS j
            WHERE j.state IN ('active', 'paused') AND j.chain_job_id IS NOT NULL
              AND j.job_id <> ALL(skip)
              AND j.req_engine = ANY(n.engines)
              AND n.gpu_count >= j.req_gpus
              AND j.req_gpu_vendor IN ('any', n.gpu_vendor)
              AND (j.req_gpu_model IS NULL
                   OR EXISTS (SELECT 1 FROM unnest(n.gpu_models) AS g(name)
                              WHERE strpos(lower(g.name), j.req_gpu_model) > 0))
              AND (j.req_vram_gb IS NULL OR n.min_gpu_vram_gb >= j.req_vram_gb)
              AND (j.req_ram_gb IS NULL OR n.ram_gb >= j.req_ram_gb)
              AND j.req_location IN ('any', n.location)
              AND (j.req_tier <> 'tier-2' OR n.multiplier >= p_tier2_min)
              AND (j.req_tier <> 'tier-3' OR n.operator = ANY(p_trusted))
            ORDER BY j.priority DESC, j.job_id
        ) AS j
        CROSS JOIN LATERAL (
            SELECT t.task_id, t.seq, t.frames, t.attempt, t.ref_minutes
            FROM api.tasks AS t
            WHERE t.job_id = j.job_id AND t.state = 'queued'
              AND NOT (p_node = ANY(t.excluded_nodes))
              AND (p_max_frames IS NULL OR cardinality(t.frames) <= p_max_frames)
              -- here, not among the job conditions: checked for the jobs tried, not for every job sorted
              AND NOT EXISTS (SELECT 1 FROM api.job_node_failures AS b
                              WHERE b.job_id = j.job_id AND b.node_id = p_node AND b.blocklisted)
            ORDER BY t.priority DESC, t.seq
            LIMIT 1
            FOR UPDATE OF t SKIP LOCKED
        ) AS t
        LEFT JOIN public.jobs AS m ON m.job_id = j.chain_job_id AND NOT m.closed
        WHERE n.node_id = p_node
        LIMIT 1;
        IF NOT FOUND THEN
            IF i = 1 AND EXISTS (SELECT 1 FROM api.node_status AS s WHERE s.node_id = p_node AND s.engines IS NULL)
            THEN
                status := 'no facts';  -- a heartbeat stored before its facts had columns
                RETURN NEXT;
            END IF;
            RETURN;  -- nothing matches (or no heartbeat yet: nothing is known to match)
        END IF;
        skip := skip || c.job_id;  -- a job passed over below is not tried again
        q := api.task_quote(c.price_per_minute, c.ref_minutes, p_margin_num, p_margin_den, p_cap);
        IF c.available IS NULL OR c.available < q THEN  -- not indexed, closed, or short of the quote
            IF c.state <> 'paused' THEN
                UPDATE api.jobs SET state = 'paused',
                    pause_reason = format('the escrow cannot cover the next task''s quote (%s); top it up', q),
                    version = version + 1, updated_at = p_now
                WHERE job_id = c.job_id;
            END IF;
            CONTINUE;
        END IF;
        IF c.state = 'paused' THEN
            UPDATE api.jobs SET state = 'active', pause_reason = NULL, version = version + 1, updated_at = p_now
            WHERE job_id = c.job_id;
        END IF;
        WITH leased AS (
            UPDATE api.tasks SET state = 'assigned', attempt = c.attempt + 1, node_id = p_node,
                lease_deadline = p_deadline, quote = q, updated_at = p_now
            WHERE task_id = c.task_id
        ), assigned AS (
            UPDATE api.frames SET state = 'assigned', updated_at = p_now
            WHERE job_id = c.job_id AND task_id = c.task_id
        )
        INSERT INTO api.chain_outbox (kind, job_id, task_id, attempt, chain_job_id, chain_task_id, node_id, quote,
                                      status, tries, next_try_at, created_at)
        VALUES ('assign', c.job_id, c.task_id, c.attempt + 1, c.chain_job_id, c.seq, p_node, q,
                'pending', 0, p_now, p_now);
        status := 'leased';
        task_id := c.task_id;
        job_id := c.job_id;
        attempt := c.attempt + 1;
        chain_job_id := CAST(c.chain_job_id AS text);
        seq := c.seq;
        frames := c.frames;
        settings := c.settings;
        quote := CAST(q AS text);
        RETURN NEXT;
        RETURN;
    END LOOP;
END
$$
"""

CLAIM_TASK_SIGNATURE = (
    "api.claim_task(bigint, integer, float8, text[], timestamptz, timestamptz, numeric, numeric, numeric)"
)
TASK_QUOTE_SIGNATURE = "api.task_quote(numeric, float8, numeric, numeric, numeric)"


def upgrade() -> None:
    """Apply this revision."""
    for column in _fact_columns():
        op.add_column("node_status", column, schema=SCHEMA)
    for column in _requirement_columns():
        op.add_column("jobs", column, schema=SCHEMA)
    # Nodes that may not take a task again (failed its verification, or lost a dispute over it).
    op.add_column(
        "tasks",
        sa.Column("excluded_nodes", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        schema=SCHEMA,
    )
    # The claim reads queued tasks only, in (job, priority desc, seq) order: a partial index stays small as
    # tasks finish, and replaces the old (state, priority, job_id, task_id) one, which no query used.
    op.drop_index("tasks_claimable", table_name="tasks", schema=SCHEMA)
    op.create_index(
        "tasks_queued",
        "tasks",
        ["job_id", sa.text("priority DESC"), "seq"],
        unique=False,
        schema=SCHEMA,
        postgresql_where=sa.text("state = 'queued'"),
    )
    op.create_index(
        "tasks_open",
        "tasks",
        ["job_id"],
        unique=False,
        schema=SCHEMA,
        postgresql_where=sa.text("state IN ('queued', 'assigned', 'rendering')"),
    )
    op.create_index(
        "jobs_claimable",
        "jobs",
        [sa.text("priority DESC"), "job_id"],
        unique=False,
        schema=SCHEMA,
        postgresql_where=sa.text("state IN ('active', 'paused') AND chain_job_id IS NOT NULL"),
    )
    op.create_index(
        "chain_outbox_pending_assign",
        "chain_outbox",
        ["job_id"],
        unique=False,
        schema=SCHEMA,
        postgresql_include=["quote"],
        postgresql_where=sa.text("kind = 'assign' AND status = 'pending'"),
    )
    op.execute(TASK_QUOTE_FUNCTION)
    op.execute(CLAIM_TASK_FUNCTION)


def downgrade() -> None:
    """Revert this revision."""
    op.execute(f"DROP FUNCTION {CLAIM_TASK_SIGNATURE}")
    op.execute(f"DROP FUNCTION {TASK_QUOTE_SIGNATURE}")
    op.drop_index("chain_outbox_pending_assign", table_name="chain_outbox", schema=SCHEMA)
    op.drop_index("jobs_claimable", table_name="jobs", schema=SCHEMA)
    op.drop_index("tasks_open", table_name="tasks", schema=SCHEMA)
    op.drop_index("tasks_queued", table_name="tasks", schema=SCHEMA)
    op.create_index("tasks_claimable", "tasks", ["state", "priority", "job_id", "task_id"], unique=False, schema=SCHEMA)
    op.drop_column("tasks", "excluded_nodes", schema=SCHEMA)
    for column in reversed(_requirement_columns()):
        op.drop_column("jobs", column.name, schema=SCHEMA)
    for column in reversed(_fact_columns()):
        op.drop_column("node_status", column.name, schema=SCHEMA)
