"""One settings object for the whole service: env vars ``SITIN_*`` and CLI flags.

The embedded default needs nothing: a data directory holding the SQLite database, the blob folder,
the queue file and a generated secret. Scale-out points the URLs elsewhere.
"""

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "sitin"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SITIN_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    data_dir: Path = Field(default_factory=_default_data_dir)

    database_url: str | None = None  # default: sqlite file in data_dir
    queue_url: str | None = None  # default: huey SQLite file in data_dir; redis://… to scale out
    queue_name: str = "sitin"  # deployments sharing one Redis keep their queues apart by name
    storage_url: str | None = None  # default: file:// blob folder in data_dir; s3://bucket/prefix
    s3_endpoint_url: str | None = None
    public_url: str | None = None  # how clients reach this server (signed download links)

    secret_key: str | None = None  # signs local download URLs; generated into data_dir if unset
    allow_insecure_webhooks: bool = False  # http:// and private targets; localhost development only
    webhook_max_attempts: int = Field(3, ge=1, le=20)  # deliveries tried per event, in total
    webhook_retry_base_delay: float = Field(1.0, ge=0)  # retry n waits base * 2**(n-1) seconds
    webhook_timeout_seconds: float = Field(10.0, gt=0)  # per delivery request
    webhook_secret_overlap_seconds: int = Field(86400, ge=0)  # old secrets verify this long
    journal_interval: float = Field(30.0, gt=0)  # seconds between retries of pending blob deletions
    retention_interval: float = Field(60.0, gt=0)  # seconds between retention sweeps
    heartbeat_interval: float = Field(5.0, gt=0)  # seconds between a running bot's heartbeats
    heartbeat_timeout: float = Field(60.0, gt=0)  # silent this long: fatal_error/heartbeat_timeout
    launch_timeout: float = Field(300.0, gt=0)  # never started this long: bot_not_launched
    stage_ahead_seconds: float = Field(30.0, ge=0)  # scheduled bots are staged this early
    scheduler_interval: float = Field(1.0, gt=0)
    reaper_interval: float = Field(5.0, gt=0)
    max_bots_per_worker: int = Field(40, ge=1)
    run_worker: bool = True  # `sitin serve` embeds the worker unless --no-worker
    run_periodic: bool = True  # exactly one worker in a deployment runs the periodic jobs
    log_level: Literal["debug", "info", "warning", "error"] = "info"  # sitin's own loggers
    log_format: Literal["text", "json"] = "text"  # one line per record on stderr

    @field_validator("database_url", "queue_url", "storage_url")
    @classmethod
    def _known_scheme(cls, value: str | None, info) -> str | None:
        if value is None or value == "":
            return None
        allowed = {
            "database_url": ("sqlite", "postgresql"),
            "queue_url": ("sqlite", "redis", "memory"),
            "storage_url": ("file", "s3"),
        }[info.field_name]
        scheme = value.split(":", 1)[0].split("+", 1)[0]
        if scheme not in allowed:
            raise ValueError(
                f"unsupported scheme {scheme!r} in {info.field_name}; use one of {allowed}"
            )
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'sitin.db'}"

    @property
    def resolved_queue_url(self) -> str:
        return self.queue_url or f"sqlite:///{self.data_dir / 'queue.db'}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or f"file://{self.data_dir / 'blobs'}"

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @cached_property
    def resolved_secret_key(self) -> bytes:
        """The configured secret, or one generated once and kept in the data directory."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first
                pass
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()


def load_settings(**overrides) -> Settings:
    """Settings from the environment, with CLI flags (non-None) taking precedence."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
