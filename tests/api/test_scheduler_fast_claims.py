"""Revision 0011 on a real PostgreSQL: the claim procedure commits the lease before its version bump, and the
jobs' requirement columns, now kept by a trigger, hold exactly what revision 0009's generated columns did."""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, pool, select, text, update

from api import jobs as jobs_api
from api import scheduler
from pictor.db import alembic_config, get_engine, sqlalchemy_url, upgrade
from tables.jobs import REQUIREMENTS, jobs, tasks
from tests.support import REPO_ROOT
from tests.support.api import make_settings
from tests.support.jobs import CREATOR, SMALL, activate, make_upload, telemetry

OPERATOR = "0x" + "0a" * 32
VERSIONS = REPO_ROOT / "migrations" / "versions"
NAMES = [name for name, _ in REQUIREMENTS]


def _migration(filename: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(filename.removesuffix(".py"), VERSIONS / filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def env(db_url: str, tmp_path: Path):
    engine = get_engine(db_url)
    settings = make_settings(tmp_path, scheduler_background=False)
    yield engine, settings
    engine.dispose()


def new_job(engine: Engine, settings: Any, chain_job_id: int, /, **overrides: Any) -> int:
    body = jobs_api.CreateBody(upload_id=make_upload(engine, CREATOR), settings={**SMALL, **overrides})
    job_id = jobs_api.insert_job(engine, body, CREATOR, settings)["job_id"]
    activate(engine, job_id, chain_job_id)
    return job_id


def _generated_0009() -> dict[str, str]:
    """Revision 0009's generated column expressions, by column name."""
    columns = _migration("0009_scheduler_claims.py")._requirement_columns()
    return {column.name: str(column.computed.sqltext) for column in columns}


def _requirements_as_0009(engine: Engine, job_id: int) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The job's requirement columns, and revision 0009's generated expressions evaluated over its settings."""
    generated = _generated_0009()
    with engine.connect() as conn:
        row = conn.execute(select(*(jobs.c[name] for name in NAMES)).where(jobs.c.job_id == job_id)).one()
        expected = conn.execute(
            text(f"SELECT {', '.join(generated[name] for name in NAMES)} FROM api.jobs WHERE job_id = :j"),
            {"j": job_id},
        ).one()
    return tuple(row), tuple(expected)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"engine": "eevee", "worker_location": "asia", "pricing_tier": "tier-2"},
        {"device": "GPU", "hardware": {"gpu_vendor": "nvidia", "gpu_model": "RTX 4090", "min_vram_gb": 12.5}},
        {"device": "GPU", "hardware": {"gpu_count": 2, "min_ram_gb": 48.5}, "pricing_tier": "tier-3"},
    ],
)
def test_requirement_columns_hold_what_the_generated_columns_did(env, overrides) -> None:
    engine, settings = env
    job = new_job(engine, settings, 1, **overrides)
    columns, expected = _requirements_as_0009(engine, job)
    assert columns == expected
    assert columns[0] == ("BLENDER_EEVEE" if overrides.get("engine") == "eevee" else "CYCLES")


def test_requirement_columns_follow_settings_and_stay_derived(env) -> None:
    engine, settings = env
    job = new_job(engine, settings, 1)
    with engine.begin() as conn:
        cfg = conn.execute(select(jobs.c.settings).where(jobs.c.job_id == job)).scalar_one()
        gpu = {**cfg, "device": "GPU", "hardware": {**cfg.get("hardware", {}), "min_vram_gb": 24}}
        conn.execute(update(jobs).where(jobs.c.job_id == job).values(settings=gpu))
    columns, expected = _requirements_as_0009(engine, job)
    assert columns == expected and columns[NAMES.index("req_gpus")] == 1 and columns[NAMES.index("req_vram_gb")] == 24
    with engine.begin() as conn:  # a direct write is recomputed from settings: the columns cannot drift
        conn.execute(update(jobs).where(jobs.c.job_id == job).values(req_engine="BLENDER_EEVEE", req_gpus=0))
        conn.execute(update(jobs).where(jobs.c.job_id == job).values(version=jobs.c.version + 1))
    assert _requirements_as_0009(engine, job)[0] == columns


def test_the_lease_is_committed_before_the_version_bump(env) -> None:
    """While another transaction holds the job's row, the claim's lease is already visible to everyone; the
    claim answers once its bump got the row."""
    engine, settings = env
    job = new_job(engine, settings, 1, frames="1-2", frames_per_node=1)
    scheduler.record_heartbeat(engine, 7, OPERATOR, telemetry(), "test")
    with engine.connect() as conn:
        version = conn.execute(select(jobs.c.version).where(jobs.c.job_id == job)).scalar_one()
    result: list[Any] = []
    blocker = engine.connect()
    try:
        tx = blocker.begin()
        # FOR NO KEY UPDATE, as an UPDATE of the job takes: the claim's own foreign key check (KEY SHARE) passes
        blocker.execute(select(jobs.c.job_id).where(jobs.c.job_id == job).with_for_update(key_share=True))
        claimer = threading.Thread(target=lambda: result.append(scheduler.claim(engine, 7, settings)), daemon=True)
        claimer.start()
        deadline = time.monotonic() + 60
        leased: list[int] = []
        while not leased and time.monotonic() < deadline:
            with engine.connect() as conn:
                leased = conn.execute(select(tasks.c.task_id).where(tasks.c.node_id == 7)).scalars().all()
            claimer.join(0.05)  # polls the condition, does not assume any timing
        assert leased, "the lease never became visible"
        assert claimer.is_alive() and not result  # its bump waits for the row
        tx.rollback()
    finally:
        blocker.close()
    claimer.join(60)
    assert result and result[0]["task_id"] == leased[0]
    with engine.connect() as conn:
        assert conn.execute(select(jobs.c.version).where(jobs.c.job_id == job)).scalar_one() == version + 1


def test_a_claim_inside_a_transaction_block_is_refused_and_changes_nothing(env, db_url: str) -> None:
    import psycopg

    from pictor.db import libpq_url

    engine, settings = env
    job = new_job(engine, settings, 1)
    scheduler.record_heartbeat(engine, 7, OPERATOR, telemetry(), "test")
    # not autocommit: the claim would run inside this connection's transaction
    with psycopg.connect(libpq_url(db_url)) as conn, pytest.raises(psycopg.errors.InvalidTransactionTermination):
        scheduler.claim_on(conn, 7, settings)
    with engine.connect() as conn:
        assert conn.execute(select(tasks.c.state).where(tasks.c.job_id == job)).scalars().all() == ["queued"] * 3


def test_downgrade_restores_generated_columns_and_drops_the_procedure(empty_db_url: str) -> None:
    upgrade(empty_db_url)
    command.downgrade(alembic_config(empty_db_url), "0010")
    engine = create_engine(sqlalchemy_url(empty_db_url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            generated = conn.execute(
                text(
                    "SELECT attname, attgenerated FROM pg_attribute WHERE attrelid = 'api.jobs'::regclass"
                    " AND attname LIKE 'req_%' AND NOT attisdropped ORDER BY attnum"
                )
            ).all()
            procedure = conn.execute(text("SELECT to_regproc('api.claim_lease')")).scalar_one()
            trigger = conn.execute(text("SELECT count(*) FROM pg_trigger WHERE tgname = 'jobs_requirements'")).scalar()
            indexes = dict(
                conn.execute(
                    text(
                        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'api'"
                        " AND indexname IN ('tasks_lease', 'tasks_open')"
                    )
                ).all()
            )
        assert [name for name, _ in generated] == NAMES and {kind for _, kind in generated} == {"s"}
        assert procedure is None and trigger == 0
        assert "(state, lease_deadline)" in indexes["tasks_lease"] and "WHERE" not in indexes["tasks_lease"]
        assert "(job_id) WHERE" in indexes["tasks_open"]
    finally:
        engine.dispose()
    upgrade(empty_db_url)
