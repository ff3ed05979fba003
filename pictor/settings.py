"""The one settings object: environment variables prefixed ``PICTOR_`` (and ``DATABASE_URL``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Where genesis publishes the `pictor` package on the localnet (fixed, so every tool agrees).
LOCALNET_PACKAGE_ADDRESS = "0x635e1d3966d97165b72ea99efb8c44cdeb96a30f37d69563fcde9151078dc42c"
#: Chain id the localnet reports (Aptos uses 4 for its own local testnet).
LOCALNET_CHAIN_ID = 4


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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()
