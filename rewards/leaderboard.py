"""The leaderboards' refresh: which scopes are live, and one pass that credits the scanned point sources and
refreshes each live scope's snapshot (the API runs it on a schedule when ``leaderboard_background`` is on)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from pictor.settings import Settings
from rewards import snapshots
from rewards.sources import credit_sources
from tables.points import campaigns

log = logging.getLogger("rewards.leaderboard")


#: An ended campaign is still refreshed this long after its end (late credits dated inside its window).
CAMPAIGN_GRACE = timedelta(days=1)



# ----------------------------------------------------------------------------- the schedule


def refreshable_scopes(engine: Engine, now: datetime | None = None) -> list[str | int]:
    """Global, and every campaign that has started and has not been over for more than a day."""
    now = now or datetime.now(UTC)
    with engine.connect() as conn:
        ids = (
            conn.execute(
                select(campaigns.c.campaign_id)
                .where(campaigns.c.starts_at <= now, campaigns.c.ends_at > now - CAMPAIGN_GRACE)
                .order_by(campaigns.c.campaign_id)
            )
            .scalars()
            .all()
        )
    return [snapshots.GLOBAL, *ids]


def refresh_pass(
    engine: Engine, now: datetime | None = None, settings: Settings | None = None
) -> list[snapshots.RefreshResult]:
    """One scheduled pass: credit the scanned point sources, then refresh every live scope's snapshot."""
    try:
        credit_sources(engine, settings)
    except Exception:  # noqa: BLE001 - a failing source must not stop the leaderboards from refreshing
        log.exception("crediting point sources failed")
    done = []
    for scope in refreshable_scopes(engine, now):
        try:
            result = snapshots.refresh_snapshot(engine, scope, full=False)  # the current generation + since
        except snapshots.UnknownCampaign:
            continue  # deleted since it was listed
        except Exception:  # noqa: BLE001 - one scope failing must not starve the others
            log.exception("refreshing leaderboard %s failed", scope)
            continue
        if result is not None:
            done.append(result)
    return done


