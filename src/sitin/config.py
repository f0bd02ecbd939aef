"""One settings object for the whole service: env vars ``SITIN_*`` and CLI flags.

The embedded default needs nothing: a data directory holding the SQLite database, the blob folder,
the queue file and a generated secret. Scale-out points the URLs elsewhere.

Every configuration value sitin reads is a field here, validated when the settings are built (at
start-up): nothing else reads the environment, and a bad value stops the process with a message
naming the variable instead of failing later, at some bot.
"""

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sitin.core.capacity import default_capacity
from sitin.core.transcription_settings import ProviderAccount, normalise_base_url
from sitin.outbound import parse_host_rules
from sitin.rooms.admission import MAX_PASSCODE_CHARS
from sitin.rooms.limits import RoomLimits
from sitin.rooms.registry import RoomAccess

# The hosted transcription providers the operator may give a server-wide account for, and the
# variables that hold it (a project's own stored account always wins: see transcription.factory).
HOSTED_PROVIDERS = ("openai", "deepgram")
API_KEY_ENV = {name: f"SITIN_{name.upper()}_API_KEY" for name in HOSTED_PROVIDERS}
BASE_URL_ENV = {name: f"SITIN_{name.upper()}_BASE_URL" for name in HOSTED_PROVIDERS}


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) or 1


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

    secret_key: str | None = None  # signs download links; generated into data_dir if unset
    # Captured content is sealed under per-bot data keys kept in this store (default: keys.db in
    # data_dir; scale-out: a separate PostgreSQL database kept out of ordinary backups).
    keystore_url: str | None = None
    master_key: str | None = None  # wraps the data keys; default: derived from the secret key
    previous_master_keys: str = ""  # comma-separated, still unwrap while `sitin keystore rewrap`
    # http:// and ws:// and private or loopback webhook and realtime-websocket targets; local
    # development only (allow_insecure_webhooks: the older name, the same effect).
    allow_insecure_targets: bool = False
    allow_insecure_webhooks: bool = False
    # A realtime-audio websocket that fails or drops is retried this often, this far apart (the
    # count starts again once a connection opened); 0 attempts: never retried.
    realtime_reconnect_attempts: int = Field(30, ge=0, le=10_000)
    realtime_reconnect_delay: float = Field(2.0, gt=0, le=3600)
    # Hosts bots, webhooks and providers may connect to beyond the defaults (see sitin.outbound):
    # "host", "host:port", "*.domain", IP addresses, CIDR networks; comma-separated.
    outbound_hosts: str = ""
    # Request limits (see README "Security"): larger bodies get a 413 while they are being read,
    # larger room WebSocket messages close the connection (1009).
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    max_ws_message_bytes: int = Field(256 * 1024, ge=1024)
    # Local rooms (README "Security"): who may join as a human — "open" (anyone who reaches the
    # server), "passcode" (SITIN_ROOM_PASSCODE or an invite link), "invite" (invite links only,
    # `sitin rooms invite`). Bots always need the pass their server issues them.
    room_access: Literal["open", "passcode", "invite"] = "open"
    room_passcode: SecretStr | None = None
    # Per participant: chat messages and other messages at once, then per second (a human
    # past either is disconnected, 4429); bytes waiting for a slow reader (past it: 4503).
    room_chat_burst: int = Field(20, ge=1, le=100_000)
    room_chat_per_second: float = Field(2.0, gt=0, le=10_000)
    room_signaling_burst: int = Field(200, ge=1, le=1_000_000)
    room_signaling_per_second: float = Field(50.0, gt=0, le=100_000)
    room_send_buffer_bytes: int = Field(4 * 1024 * 1024, ge=64 * 1024)
    webhook_max_attempts: int = Field(3, ge=1, le=20)  # deliveries tried per event, in total
    webhook_retry_base_delay: float = Field(1.0, ge=0)  # retry n waits base * 2**(n-1) seconds
    webhook_timeout_seconds: float = Field(10.0, gt=0)  # per delivery request
    webhook_secret_overlap_seconds: int = Field(86400, ge=0)  # old secrets verify this long
    journal_interval: float = Field(30.0, gt=0)  # seconds between retries of pending blob deletions
    retention_interval: float = Field(60.0, gt=0)  # seconds between retention sweeps
    orphan_interval: float = Field(300.0, gt=0)  # seconds between sweeps of data-deleted prefixes
    heartbeat_interval: float = Field(5.0, gt=0)  # seconds between a running bot's heartbeats
    heartbeat_timeout: float = Field(60.0, gt=0)  # silent this long: fatal_error/heartbeat_timeout
    launch_timeout: float = Field(300.0, gt=0)  # never started this long: bot_not_launched
    stage_ahead_seconds: float = Field(30.0, ge=0)  # scheduled bots are staged this early
    scheduler_interval: float = Field(1.0, gt=0)
    reaper_interval: float = Field(5.0, gt=0)
    max_bots_per_worker: int = Field(40, ge=1)
    # Load units a worker carries (sitin.core.capacity: a record-only bot 1, transcribing
    # offline 4); default: 12 per core the worker has to itself, at most 12 (one process, one
    # GIL). `sitin worker --capacity`; serve's workers share the machine's cores.
    worker_capacity: float | None = Field(None, gt=0, le=10_000)
    # /metrics (Prometheus text): served only with `Authorization: Bearer <this token>`; unset,
    # the endpoint is off (it shows every project's counts, so no project's API key opens it).
    metrics_token: SecretStr | None = None
    # seconds of a bot's transcription backlog held in memory; past it, segments wait on disk
    # (sealed under the bot's data key) until the provider catches up
    transcription_memory_seconds: float = Field(120.0, ge=0)
    api_threads: int = Field(40, ge=1)  # the API's threads for blocking routes (writes mostly)
    # Threads of the read routes (PostgreSQL only): two overlap one read's network wait with
    # another's work; more fight over the GIL (api_throughput.py: 1-2 best, 4 and 8 slower)
    api_read_threads: int = Field(2, ge=1)
    worker_threads: int = Field(8, ge=1)  # a worker's task threads (sitin worker --threads)
    # PostgreSQL connections a process keeps open; none is closed when handed back, so size it to
    # the threads that use the database at once (default: computed from the settings above).
    database_pool_size: int | None = Field(None, ge=1)
    # Bot worker processes `sitin serve` starts and supervises (`--workers`; default: one per
    # core; 0: none, the API only). run_worker=false (`--no-worker`) is the same as 0.
    workers: int | None = Field(None, ge=0, le=256)
    run_worker: bool = True
    # API processes of `sitin serve` (`--api-workers`; default: one per core, on SQLite too:
    # see README). Above 1, the server process holds the rooms and the API processes forward
    # room connections to it.
    api_workers: int | None = Field(None, ge=1, le=64)
    run_periodic: bool = True  # exactly one worker in a deployment runs the periodic jobs
    log_level: Literal["debug", "info", "warning", "error"] = "info"  # sitin's own loggers
    log_format: Literal["text", "json"] = "text"  # one line per record on stderr

    # The operator's accounts at hosted transcription providers, for projects without their own.
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None  # default: OpenAI's public endpoint
    deepgram_api_key: SecretStr | None = None
    deepgram_base_url: str | None = None  # default: Deepgram's (or its EU) endpoint
    whisper_model_dir: Path | None = None  # offline model; default: the bundled tiny.en
    # Crash-safety tests only: checkpoint names (comma-separated) where the process kills itself.
    faults: str = ""

    @field_validator(
        "openai_api_key", "deepgram_api_key", "metrics_token", "room_passcode", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value):
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("openai_base_url", "deepgram_base_url")
    @classmethod
    def _http_url(cls, value: str | None, info) -> str | None:
        if value is None or not value.strip():
            return None
        return normalise_base_url(value, name=f"SITIN_{info.field_name.upper()}")

    @model_validator(mode="after")
    def _base_url_needs_a_key(self) -> "Settings":
        for name in HOSTED_PROVIDERS:
            if getattr(self, f"{name}_base_url") and getattr(self, f"{name}_api_key") is None:
                raise ValueError(
                    f"{BASE_URL_ENV[name]} is set but {API_KEY_ENV[name]} is not: the server "
                    f"would never use that endpoint; set both or neither"
                )
        return self

    @model_validator(mode="after")
    def _passcode_for_passcode_rooms(self) -> "Settings":
        passcode = self.room_passcode.get_secret_value() if self.room_passcode else ""
        if self.room_access == "passcode" and not passcode:
            raise ValueError(
                "SITIN_ROOM_ACCESS is passcode but SITIN_ROOM_PASSCODE is not set: nobody could "
                "join; set a passcode, or use invite"
            )
        if len(passcode) > MAX_PASSCODE_CHARS:
            raise ValueError(f"SITIN_ROOM_PASSCODE: at most {MAX_PASSCODE_CHARS} characters")
        return self

    @property
    def room_limits(self) -> RoomLimits:
        return RoomLimits(
            max_message_bytes=self.max_ws_message_bytes,
            chat_burst=self.room_chat_burst,
            chat_per_second=self.room_chat_per_second,
            signaling_burst=self.room_signaling_burst,
            signaling_per_second=self.room_signaling_per_second,
            send_buffer_bytes=max(self.room_send_buffer_bytes, self.max_ws_message_bytes * 4),
        )

    @property
    def room_rules(self) -> RoomAccess:
        passcode = self.room_passcode.get_secret_value() if self.room_passcode else None
        return RoomAccess(mode=self.room_access, passcode=passcode)

    @property
    def resolved_worker_capacity(self) -> float:
        """What one standalone worker process carries on this machine."""
        return self.worker_capacity or default_capacity(cores())

    @property
    def resolved_api_workers(self) -> int:
        """How many API processes `sitin serve` runs: one per core unless set, on SQLite too
        (api_throughput.py --api-workers 2 against 1, README: reads ~2.5x, writes no worse)."""
        if self.api_workers is not None:
            return self.api_workers
        return cores()

    @property
    def resolved_workers(self) -> int:
        """How many bot worker processes `sitin serve` runs."""
        if not self.run_worker:
            return 0
        return self.workers if self.workers is not None else cores()

    @property
    def insecure_targets_allowed(self) -> bool:
        return self.allow_insecure_targets or self.allow_insecure_webhooks

    @property
    def fault_points(self) -> frozenset[str]:
        return frozenset(name.strip() for name in self.faults.split(",") if name.strip())

    @property
    def provider_accounts(self) -> dict[str, ProviderAccount]:
        """The operator's hosted-provider accounts, by provider name (only those with a key)."""
        accounts = {}
        for name in HOSTED_PROVIDERS:
            key: SecretStr | None = getattr(self, f"{name}_api_key")
            if key is not None:
                base_url = getattr(self, f"{name}_base_url")
                accounts[name] = ProviderAccount(api_key=key.get_secret_value(), base_url=base_url)
        return accounts

    @field_validator("database_url", "queue_url", "storage_url", "keystore_url")
    @classmethod
    def _known_scheme(cls, value: str | None, info) -> str | None:
        if value is None or value == "":
            return None
        allowed = {
            "database_url": ("sqlite", "postgresql"),
            "queue_url": ("sqlite", "redis", "memory"),
            "storage_url": ("file", "s3"),
            "keystore_url": ("sqlite", "postgresql"),
        }[info.field_name]
        scheme = value.split(":", 1)[0].split("+", 1)[0]
        if scheme not in allowed:
            raise ValueError(
                f"unsupported scheme {scheme!r} in {info.field_name}; use one of {allowed}"
            )
        return value

    @field_validator("outbound_hosts")
    @classmethod
    def _host_rules(cls, value: str) -> str:
        parse_host_rules(value)  # ValueError names the malformed entry
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'sitin.db'}"

    @property
    def resolved_queue_url(self) -> str:
        return self.queue_url or f"sqlite:///{self.data_dir / 'queue.db'}"

    @property
    def resolved_keystore_url(self) -> str:
        return self.keystore_url or f"sqlite:///{self.data_dir / 'keys.db'}"

    @property
    def master_secrets(self) -> tuple[bytes, tuple[bytes, ...]]:
        """(current, previous) master-key secrets: the data keys are wrapped by the first."""
        current = self.master_key.encode() if self.master_key else self.resolved_secret_key
        previous = tuple(
            p.strip().encode() for p in self.previous_master_keys.split(",") if p.strip()
        )
        return current, previous

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
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process made it first
                pass
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()


class InvalidConfiguration(ValueError):
    """A configuration value is unusable; the message names each variable and what is wrong."""


def load_settings(**overrides) -> Settings:
    """Settings from the environment, with CLI flags (non-None) taking precedence; raises
    InvalidConfiguration."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            variable = f"SITIN_{field.upper()}"
            named = not field or message.startswith(variable)
            problems.append(message if named else f"{variable}: {message}")
        raise InvalidConfiguration("; ".join(problems)) from None
