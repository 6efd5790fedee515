"""One typed settings object, read from GAZETTEER_* environment variables and `.env`."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Service configuration; see `.env.example` for every key."""

    model_config = SettingsConfigDict(env_prefix="GAZETTEER_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of an existing PostGIS database; unset = embedded cluster.",
    )
    home: Path = Field(default=Path(".gazetteer"), description="Folder for the embedded cluster.")
    pg_port: int = Field(default=55432, ge=1024, le=65535)
    pg_bin: Path | None = Field(default=None, description="Folder with initdb/pg_ctl.")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_key: str | None = Field(default=None, description="Signs bearer tokens.")
    token_minutes: int = Field(default=30, ge=1, le=24 * 60)
    basemap_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    basemap_attribution: str = "© OpenStreetMap contributors"
    demo_data: bool = Field(default=True, description="Load the demo data on first start.")
    max_attachment_bytes: int = Field(default=20 * 1024 * 1024, ge=1024, le=512 * 1024 * 1024,
                                      description="Largest application attachment accepted.")
    wordlists_dir: Path | None = Field(default=None, description="Folder of extra naming-rule word lists.")
    anon_daily_quota: int = Field(default=1_000, ge=1, description="Lookups per day without an API key.")
    anon_per_second: int = Field(default=5, ge=1, description="Lookups per second without an API key.")
    key_daily_quota: int = Field(default=100_000, ge=1, le=2**31 - 1,
                                 description="Daily quota given to new API keys.")
    key_per_second: int = Field(default=50, ge=1, le=2**31 - 1, description="Rate given to new API keys.")
    batch_max_rows: int = Field(default=1_000_000, ge=1, description="Most rows one batch-geocoding job takes.")
    batch_max_bytes: int = Field(default=256 * 1024 * 1024, ge=1024, description="Largest batch CSV accepted.")
    marker_tolerance_m: dict[str, float] = Field(
        default={"province": 1.0, "county": 2.0, "township": 5.0},
        description="Per line level: a marker measured farther than this from its registered position is "
                    "移位, and a field position less accurate than this is flagged (no source gives a value).")
    survey_max_attachment_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024,
                                             description="Largest photo or file a field upload accepts.")
    survey_max_records: int = Field(default=1_000, ge=1, description="Most records one survey batch takes.")
    tile_memory_mb: int = Field(default=256, ge=0, description="Tiles kept in each server process's memory "
                                "in front of the PostgreSQL tile cache (MiB; 0 keeps none).")
    tile_memory_sync_seconds: float = Field(default=0.2, ge=0, le=1, description="How often each process reads "
                                            "the tile invalidation log; an edit shows in tiles within this.")

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @cached_property
    def cache_dir(self) -> Path:
        """Where downloaded source packages are kept between runs."""
        return self.home / "cache"

    @property
    def embedded(self) -> bool:
        """True when the project runs its own PostgreSQL cluster."""
        return self.database_url is None


def get_settings() -> Settings:
    """Read the settings from the environment (never at import time)."""
    return Settings()
