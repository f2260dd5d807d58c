"""The node's settings: one typed object, built once and passed in.

Sources, strongest first: explicit arguments, environment (`LOOPNODE_*`), the settings file
written by `loopnode init` (`<data dir>/loopnode.toml`), defaults. Nothing else in the code reads
the environment. `Settings.check_production()` refuses unsafe production values at start-up.
"""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from loopnode.domain.errors import ConfigurationError

SETTINGS_FILE = "loopnode.toml"
PRIVATE_KEY_FILE = "node_ed25519.key"
PUBLIC_KEY_FILE = "node_ed25519.pub"
TOKEN_KEY_FILE = "token_signing_ed25519.pem"
NODE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,115}\.loop\Z")
RATE_RE = re.compile(r"[1-9][0-9]{0,8}\s*/\s*(second|minute|hour|day)")


class SettingsError(ConfigurationError):
    """The settings cannot run a node (missing file, unsafe production value...)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOOPNODE_", extra="ignore")

    data_dir: Path = Path(".")
    node_id: str = "example.loop"
    name: str = "LOOP node"
    country: str = "DE"
    city_code: str = "MUC"
    city: str = "Munich"
    lat: float = 48.137
    lon: float = 11.575
    base_url: str = "http://127.0.0.1:8000"
    database_url: str = ""
    redis_url: str = ""
    environment: Literal["development", "production"] = "development"
    public_reads: bool = True
    max_body_bytes: int = 1024 * 1024
    api_key_default_ttl_days: int = 30  # issue 15: a leaked key is useful for a month at most
    api_key_max_ttl_days: int = 365
    # Seconds a checked API key is kept in memory: a revocation made by another process
    # (`loopnode key revoke`, another worker) is seen within this delay; 0 reads it every time.
    api_key_cache_s: float = Field(default=5.0, ge=0, le=300)
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca_bundle: str = ""
    announcement_radius_km: float = 1000.0
    peer_allowlist: list[str] = Field(default_factory=list)
    # Federation (docs/federation.md): flooding, delivery retries, timeouts.
    announcement_ttl: int = Field(default=3, ge=1, le=16)
    federation_dedupe_window_s: int = Field(default=3600, ge=1)
    federation_timeout_s: float = Field(default=10.0, gt=0)
    federation_search_timeout_s: float = Field(default=3.0, gt=0)
    federation_poll_s: float = Field(default=0.5, gt=0)
    federation_retry_base_s: float = Field(default=1.0, gt=0)
    federation_retry_cap_s: float = Field(default=300.0, gt=0)
    federation_max_attempts: int = Field(default=16, ge=1)
    federation_breaker_threshold: int = Field(default=5, ge=1)
    federation_breaker_cooldown_s: float = Field(default=30.0, gt=0)
    federation_worker: bool = True
    # Witnessed checkpoints (issue 15, docs/operations.md): seconds between fetches of every
    # approved peer's signed evidence head; 0 leaves it to `loopnode evidence checkpoint`.
    evidence_witness_interval_s: float = Field(default=300.0, ge=0)
    # Retention (issue 15): `loopnode evidence retain` tombstones entries older than this many
    # days; None keeps every entry's actor and summary.
    evidence_retention_days: int | None = Field(default=None, ge=1, le=36_500)
    # Dashboard (docs/dashboard.md): map tiles, e.g. https://tile.example/{z}/{x}/{y}.png;
    # empty draws the map on a plain background (nodes run offline).
    dashboard_tile_url: str = ""
    # Rate limits (§10.4, docs/operations.md): "N/second|minute|hour|day" per identity.
    rate_limits: bool = True
    rate_limit_user: str = "100/minute"
    rate_limit_node: str = "1000/minute"
    rate_limit_search: str = "10/minute"
    rate_limit_anonymous: str = "100/minute"
    # Reads a dashboard page makes with its page pass, per address (web/dashboard_pass.py).
    rate_limit_dashboard: str = "600/minute"
    rate_limit_key_prefix: str = "loopnode"
    # Operations and production mode (docs/operations.md).
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1"])
    tls_proxy: bool = False
    cors_allow_origins: list[str] = Field(default_factory=list)
    hsts_max_age_s: int = Field(default=31_536_000, ge=0)
    access_log: bool = False
    log_format: Literal["json", "text"] = "json"
    outbox_stuck_after_s: float = Field(default=900.0, gt=0)
    # Database faults (docs/threat-model.md): bound every wait on an unreachable database.
    database_connect_timeout_s: int = Field(default=5, ge=1)
    database_statement_timeout_s: float = Field(default=15.0, gt=0)
    database_pool_timeout_s: float = Field(default=5.0, gt=0)
    # PostgreSQL connections per worker process, and database calls it runs at once.
    database_pool_size: int = Field(default=16, ge=1, le=200)
    request_deadline_s: float = Field(default=20.0, gt=0)
    # How routes run PostgreSQL calls (web/concurrency.py): inline on the event loop (a local
    # server: a round trip costs less than a thread hop) or in the threadpool (a server across
    # a network); auto picks inline for a loopback host or a Unix socket. SQLite: always inline.
    database_call_mode: Literal["auto", "inline", "threads"] = "auto"
    # Authentication (docs/auth.md): OAuth 2.0 bearer JWTs from an OIDC issuer and/or the
    # built-in issuer (`loopnode token issue`), whose signing key is not the node key.
    oidc_discovery_url: str = ""
    oidc_issuer: str = ""  # empty: the discovery URL without /.well-known/openid-configuration
    token_audience: str = ""  # empty: the node's base_url
    token_issuer: str = ""  # the built-in issuer's `iss`; empty: the node's base_url
    jwks_cache_s: float = Field(default=300.0, gt=0)

    @field_validator(
        "rate_limit_user",
        "rate_limit_node",
        "rate_limit_search",
        "rate_limit_anonymous",
        "rate_limit_dashboard",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        if not RATE_RE.fullmatch(value.strip()):
            raise ValueError("a rate limit looks like '100/minute' (second, minute, hour, day)")
        return value.strip()

    # Routing (docs/routing.md): signals, LoopCost, overflow.
    signals: dict[str, Decimal] = Field(default_factory=dict)
    signal_quorum: Decimal | None = Field(default=None, ge=0, le=1)
    signal_eligible_voters: int = Field(default=0, ge=0)
    signal_config_days: int = Field(default=365, ge=1)
    peer_signals_ttl_s: float = Field(default=300.0, gt=0)
    peer_distances_km: dict[str, Decimal] = Field(default_factory=dict)
    overflow_local_window_s: float = Field(default=86400.0, ge=0)
    overflow_bid_window_s: float = Field(default=86400.0, ge=0)
    overflow_auto_select: bool = True
    overflow_worker: bool = False
    overflow_poll_s: float = Field(default=10.0, gt=0)
    # LoopCoin (docs/ledger.md): the LoopCoinConfig this node publishes and enforces.
    loopcoin_currency_code: str = ""  # empty: LC-<city_code>
    loopcoin_backed_by: Literal["EUR", "USD", "GBP", "CHF", "SEK", "NOK", "DKK"] = "EUR"
    loopcoin_exchange_rate: Decimal = Field(default=Decimal("1.0"), ge=0)
    loopcoin_max_issuance: int = Field(default=1_000_000, ge=0)
    loopcoin_reserve_ratio: Decimal = Field(default=Decimal("1.0"), ge=0)
    loopcoin_local_bonus: Decimal = Field(default=Decimal("0.05"), ge=0, le=Decimal("0.5"))
    loopcoin_expiry_months: int = Field(default=6, ge=1, le=12)
    loopcoin_decay_rate: Decimal = Field(default=Decimal("0.05"), ge=0, le=Decimal("0.2"))
    # A clearing round with the approved peers every N hours (0: never); docs/ledger.md.
    loopcoin_clearing_interval_h: float = Field(default=24.0, ge=0)

    @field_validator("node_id")
    @classmethod
    def _node_id_pattern(cls, value: str) -> str:
        if not NODE_ID_RE.match(value):
            raise ValueError(
                "node id must look like 'munich.loop' (lowercase, digits, '-', '.loop')"
            )
        return value

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{2}", value):
            raise ValueError("country must be an ISO 3166-1 alpha-2 code such as DE")
        return value

    @field_validator("city_code")
    @classmethod
    def _city_code(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError("city code must be three upper-case letters such as MUC")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = _settings_file_hint(init_settings, env_settings)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with the driver the node uses for it."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'loopnode.db').resolve()}"
        if url.startswith(("postgres://", "postgresql://")):
            return "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    @field_validator("loopcoin_currency_code")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        if value and not re.fullmatch(r"LC-[A-Z]{3}", value):
            raise ValueError("the LoopCoin currency code looks like LC-MUC")
        return value

    @property
    def currency_code(self) -> str:
        """This node's LoopCoin code: the setting, else `LC-<city_code>`."""
        return self.loopcoin_currency_code or f"LC-{self.city_code}"

    @property
    def api_base(self) -> str:
        """The advertised API root: NodeInfo's `endpoint`."""
        return self.base_url.rstrip("/") + "/api/v1"

    @property
    def token_key_path(self) -> Path:
        """The built-in token issuer's Ed25519 signing key (separate from the node key)."""
        return self.data_dir / TOKEN_KEY_FILE

    @property
    def audience(self) -> str:
        return self.token_audience or self.base_url.rstrip("/")

    @property
    def builtin_issuer(self) -> str:
        return self.token_issuer or self.base_url.rstrip("/")

    @property
    def private_key_path(self) -> Path:
        return self.data_dir / PRIVATE_KEY_FILE

    def check_production(self) -> None:
        """Fail fast on values that are unsafe outside a development laptop."""
        if self.environment != "production":
            return
        if not self.base_url.startswith("https://"):
            raise SettingsError("production nodes must advertise an https:// base URL")
        if self.sqlalchemy_url.startswith("sqlite") and not self.database_url:
            return


def _settings_file_hint(*sources: PydanticBaseSettingsSource) -> Path | None:
    data_dir = None
    for source in sources:
        data_dir = source().get("data_dir")
        if data_dir is not None:
            break
    if data_dir is None:
        return None
    candidate = Path(data_dir) / SETTINGS_FILE
    return candidate if candidate.exists() else None


def load_settings(data_dir: Path | str | None = None, **overrides: Any) -> Settings:
    """Build the settings for the node whose files live in `data_dir`."""
    if data_dir is not None:
        overrides["data_dir"] = Path(data_dir)
    return Settings(**overrides)


def read_settings_file(data_dir: Path) -> dict[str, Any]:
    path = data_dir / SETTINGS_FILE
    if not path.exists():
        raise SettingsError(f"{path} not found: run `loopnode init --data-dir {data_dir}` first")
    with path.open("rb") as handle:
        return tomllib.load(handle)


def write_settings_file(data_dir: Path, values: dict[str, Any]) -> Path:
    """Write a flat TOML file (strings, numbers, booleans, lists of strings)."""
    lines = ["# loopnode settings, written by `loopnode init`; LOOPNODE_* variables override."]
    for key, value in values.items():
        lines.append(f"{key} = {_toml_value(value)}")
    path = data_dir / SETTINGS_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
