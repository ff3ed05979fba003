"""The one settings object: environment variables prefixed ``PICTOR_`` (and ``DATABASE_URL``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from chain.constants import LOCALNET_PACKAGE_ADDRESS


class Settings(BaseSettings):
    """Configuration shared by every component; a field is set by ``PICTOR_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="PICTOR_", extra="ignore")

    data_dir: Path = Field(default=Path(".pictor"), description="Root for local state (localnet, database, blobs).")
    node_url: str = Field(default="http://127.0.0.1:8080/v1", description="Aptos node REST API base URL.")
    faucet_url: str = Field(default="http://127.0.0.1:8081", description="Faucet base URL.")
    package_address: str = Field(default=LOCALNET_PACKAGE_ADDRESS, description="Address of the `pictor` package.")
    chain_id: int | None = Field(default=None, description="Expected chain id; None trusts the node.")
    keys_dir: Path | None = Field(default=None, description="Where admin/coordinator/treasury keys are read from.")
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")

    # Sign in with Aptos (AIP-116) and sessions.
    signin_domain: str = Field(default="localhost:8000", description="The domain (host[:port]) users sign in to.")
    signin_uri: str = Field(default="http://localhost:8000", description="The URI named in the sign-in message.")
    signin_statement: str = Field(
        default="Sign in to Pictor to upload scenes and manage render jobs.",
        description="The human-readable statement of the sign-in message (one line).",
    )
    signin_chain_id: str | None = Field(
        default=None, description="Chain ID line of the sign-in message (e.g. aptos:mainnet); None asks the node."
    )
    signin_nonce_ttl_s: int = Field(default=300, ge=10, description="How long a sign-in nonce may be used.")
    session_ttl_s: int = Field(default=7 * 24 * 3600, ge=60, description="Lifetime of a session token.")
    session_max_per_account: int = Field(
        default=20, ge=1, description="Open sessions one account may hold; a new one past it ends the oldest."
    )
    # Abuse limits: request body sizes by route (api/bodies.py) and request rates per client (api/limits.py).
    body_max_bytes: int = Field(
        default=8 * 1024, ge=256, description="Largest body of a small JSON route (any route not in api/bodies.py)."
    )
    body_max_bytes_jobs: int = Field(
        default=64 * 1024, ge=1024, description="Largest body of POST /jobs and /jobs/estimate, and of campaigns."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Reverse proxies (IPs or CIDRs, JSON list) whose X-Forwarded-For names the client; none: the peer.",
    )
    rate_limit_window_s: int = Field(default=60, ge=1, description="The window every request rate limit counts in.")
    rate_limit_signin: int = Field(
        default=30, ge=0, description="Sign-in and enrollment requests per client (IP) per window (0: unlimited)."
    )
    rate_limit_public: int = Field(
        default=600, ge=0, description="Public reads (/audit, /leaderboard, …) per client per window (0: unlimited)."
    )
    rate_limit_account: int = Field(
        default=1200, ge=0, description="Requests per signed-in account per window (0: unlimited)."
    )
    rate_limit_node: int = Field(default=3000, ge=0, description="Signed requests per node per window (0: unlimited).")
    # Signed node (worker/checker) requests.
    node_request_max_skew_s: int = Field(default=60, ge=1, description="Accepted clock skew of signed node requests.")
    node_request_max_body: int = Field(default=16 * 1024 * 1024, description="Largest signed node request body.")
    # Operator-created workers (api/enrollment.py) and large frames (api/node_tasks.py frame parts).
    worker_enrollment_ttl_s: int = Field(default=24 * 3600, ge=60, description="Lifetime of a worker enrollment token.")
    public_api_url: str | None = Field(default=None, description="API URL put in worker configs; None: the request's.")
    public_node_url: str | None = Field(default=None, description="Chain node URL put in worker configs; None: node_url.")
    frame_max_bytes: int = Field(default=2 * 1024**3, ge=1, description="Largest frame a node may upload in parts.")
    # Uploads (api/uploads.py): their size, what they may expand to (pictor/blobs.py), and each account's share.
    blob_dir: Path | None = Field(default=None, description="Content-addressed blob store; default <data_dir>/blobs.")
    upload_max_bytes: int = Field(default=2 * 1024**3, ge=1, description="Largest accepted upload.")
    zip_max_entries: int = Field(default=10_000, ge=1, description="Most entries a .zip project may hold.")
    zip_max_total_bytes: int = Field(
        default=2 * 1024**3, ge=1, description="Most bytes a .zip project may extract to, all entries together."
    )
    zip_max_ratio: int = Field(
        default=200, ge=1, description="Most bytes a .zip may extract to per byte of the archive (all entries together)."
    )
    blend_max_decompressed_bytes: int = Field(
        default=4 * 1024**3, ge=1, description="Most bytes a compressed .blend (alone or in a .zip) may decompress to."
    )
    blend_max_ratio: int = Field(
        default=200, ge=1, description="Most bytes a compressed .blend may decompress to per compressed byte."
    )
    upload_quota_bytes: int = Field(
        default=20 * 1024**3, ge=0, description="An account's storage quota: its uploads and their extracted projects."
    )
    uploads_per_hour: int = Field(default=60, ge=0, description="Uploads one account may make in an hour.")
    upload_max_open: int = Field(default=20, ge=0, description="Uploads one account may hold that no job uses yet.")
    inspect_timeout_s: float = Field(default=120.0, gt=0, description="Time limit of a scene inspection.")
    pretest_timeout_s: float = Field(default=120.0, gt=0, description="Time limit of a job's pre-test render.")
    pretest_max_pixels: int = Field(default=320 * 180, ge=64, description="Most pixels of the reduced pre-test frame.")
    pretest_max_samples: int = Field(default=16, ge=1, description="Most samples of the reduced pre-test frame.")
    # Jobs, pricing and the scheduler (api/jobs, api/scheduler).
    tier_prices: dict[str, int] = Field(
        default={"tier-1": 40_000, "tier-2": 60_000, "tier-3": 100_000, "none": 50_000},
        description="Price per reference-GPU-minute, in PICTOR base units (1e-8), per pricing tier.",
    )
    tier2_min_multiplier: float = Field(default=1.0, gt=0, description="Slowest node (multiplier) Tier 2 accepts.")
    trusted_operators: list[str] = Field(default_factory=list, description="Operators that may serve Tier 3 jobs.")
    quote_margin: float = Field(default=1.5, ge=1, description="Quote = estimate × this (the charge is capped at it).")
    max_task_quote: int = Field(default=10**12, ge=1, description="Cap of one task's quote, base units.")
    ref_seconds_per_frame: float = Field(
        default=60.0, gt=0, description="Reference-GPU seconds of an FHD, 128-sample Cycles frame (estimates)."
    )
    lease_s: int = Field(default=120, ge=5, description="Lease length; task heartbeats extend it.")
    node_online_s: int = Field(default=120, ge=5, description="A node is online this long after its heartbeat.")
    blocklist_failures: int = Field(default=3, ge=1, description="Failed tasks of one job that blocklist a node.")
    task_max_attempts: int = Field(default=5, ge=1, description="Attempts before a task's frames are failed.")
    review_window_s: int = Field(default=7 * 24 * 3600, ge=0, description="How long a creator may review frames.")
    scheduler_interval_s: float = Field(default=2.0, gt=0, description="Lease sweep and chain outbox period.")
    scheduler_background: bool = Field(default=True, description="Run the sweep/outbox loop inside the API.")
    # Unpaid work: what one account may hold before paying for it (api/jobs/lifecycle.py, api/enrollment.py).
    unpaid_jobs_max: int = Field(default=5, ge=1, description="Jobs one account may hold waiting for their escrow.")
    unpaid_frames_max: int = Field(
        default=100_000, ge=1, description="Frames of one account's jobs waiting for their escrow, all together."
    )
    unpaid_job_ttl_s: int = Field(
        default=24 * 3600, ge=60, description="A job whose escrow is not linked this long after its creation expires."
    )
    workers_max: int = Field(default=100, ge=1, description="Workers one operator may hold that are not revoked.")
    workers_max_per_day: int = Field(
        default=50, ge=1, description="Workers one operator may create in 24 hours (revoked ones count too)."
    )
    # Rendered frames: what a creator's thumbnail decodes (api/routes/jobs.py).
    thumbnail_max_pixels: int = Field(
        default=8192 * 8192, ge=1, description="Largest frame (width × height) a thumbnail is made from; else 415."
    )
    # Rewards: points (rewards/points.py).
    admin_addresses: list[str] = Field(default_factory=list, description="Accounts allowed /rewards/admin (JSON list).")
    rewards_online_max_gap_s: int = Field(default=600, ge=1, description="Longest heartbeat gap still counted online.")
    rewards_liveness_idle_s: int = Field(default=6 * 3600, ge=60, description="Online without work this long: check.")
    rewards_liveness_deadline_s: int = Field(default=2 * 3600, ge=60, description="Time a node has to pass a check.")
    rewards_liveness_renders: int = Field(default=1, ge=1, le=64, description="Liveness reference renders at once.")
    rewards_liveness_render_timeout_s: float = Field(default=120.0, gt=0, description="Limit of one reference render.")
    rewards_liveness_render_wait_s: float = Field(default=60.0, gt=0, description="Wait for a render slot, then 503.")
    # The creator's client (creator/) and its commands (cli/creator.py).
    api_url: str = Field(default="http://127.0.0.1:8000", description="The Pictor API the creator CLI talks to.")
    wallet_key: Path | None = Field(default=None, description="Creator CLI key file; default <data_dir>/wallet.key.")
    # Verification (api/verification, checker_node).
    verify_lease_s: int = Field(default=900, ge=5, description="A checker's lease on a verification; heartbeats extend it.")
    verify_max_rounds: int = Field(default=3, ge=1, description="Checkers asked per task attempt (unsure → the next).")
    verify_finalize_interval_s: float = Field(default=10.0, gt=0, description="Period of the review-window finalizer.")
    # Reward epochs (rewards/epochs.py): epoch n covers [origin + (n-1)·length, origin + n·length).
    rewards_epoch_length_s: int = Field(default=7 * 24 * 3600, ge=60, description="Length of a reward epoch.")
    rewards_epoch_origin_s: int = Field(default=1_767_571_200, ge=0, description="Start of epoch 1 (Unix s; a Monday).")
    rewards_close_background: bool = Field(default=False, description="The API closes ended epochs (needs admin.key).")
    rewards_close_interval_s: float = Field(default=300.0, gt=0, description="How often the API looks for ended epochs.")
    # Leaderboards (rewards/leaderboard.py): snapshots refreshed on a schedule inside the API.
    leaderboard_background: bool = Field(
        default=False, description="Refresh leaderboards (and credit point sources) in the API; `pictor api` sets it."
    )
    leaderboard_refresh_s: float = Field(default=60.0, gt=0, description="Period of the leaderboard snapshot refresh.")
    leaderboard_cache_ttl_s: float = Field(default=1.0, ge=0, description="GET /leaderboard answers reused (0: off).")

    @property
    def blobs_path(self) -> Path:
        """Where blobs are stored: ``blob_dir`` or ``<data_dir>/blobs``."""
        return Path(self.blob_dir) if self.blob_dir else Path(self.data_dir) / "blobs"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()
