"""Configuration, read once at start-up from the environment (prefix ``METASTORE_``) and an optional
``.env`` file.

Precedence, highest first: explicit keyword arguments (tests), environment variables, the ``.env``
file in the working directory (or the file named by ``METASTORE_ENV_FILE``), then the defaults below.
Complex values (``sources``, ``security_labels``, ``api_tokens`` ...) are JSON, as in Azul.

An invalid value stops start-up with :class:`~azul_metastore.errors.ConfigError` naming the variable
and what is accepted; nothing else in the code reads the environment.
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from azul_metastore.errors import ConfigError

ENV_PREFIX = "METASTORE_"

PartitionUnit = Literal["all", "year", "month", "week", "day"]

_DURATION = re.compile(r"^\s*(\d+)\s*(day|days|week|weeks|month|months|year|years)?\s*$", re.IGNORECASE)
_MS_PER = {
    "day": 86_400_000,
    "week": 7 * 86_400_000,
    "month": 30 * 86_400_000,
    "year": 365 * 86_400_000,
}


#: the longest retention accepted (1000 years of 365 days)
MAX_RETENTION_MS = 1000 * 365 * 86_400_000
#: the longest interval or timeout in seconds (a year): ``threading``'s waits overflow near 292 years
MAX_SECONDS = 366 * 86_400


def duration_ms(text: str) -> int:
    """Convert an Azul retention such as ``"2 weeks"`` to milliseconds; ``"0"`` means never (-1).

    Months count 30 days and years 365, as Azul does.
    """
    m = _DURATION.match(text or "0")
    if not m:
        raise ValueError(f"{text!r} is not a duration; use '<int> days|weeks|months|years' or '0' for never")
    n, unit = int(m.group(1)), (m.group(2) or "").lower().rstrip("s")
    if n == 0:
        return -1
    if not unit:
        raise ValueError(f"{text!r} has no unit; use '<int> days|weeks|months|years' or '0' for never")
    if n * _MS_PER[unit] > MAX_RETENTION_MS:
        # age-off subtracts it from today: 3000 years before now is before year 1
        raise ValueError(f"{text!r} is longer than 1000 years; use '0' to keep for ever")
    return n * _MS_PER[unit]


class SourceReference(BaseModel):
    """One reference key a source's submissions carry (``user``, ``description`` ...)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    required: bool = False
    description: str = ""
    highlight: bool = False
    priority: bool = True


class SourceKafka(BaseModel):
    model_config = ConfigDict(extra="forbid")
    numpartitions: int = 0
    replicationfactor: int = 0
    config: dict[str, str] = {}


class Source(BaseModel):
    """A configured source: submissions and events naming any other source are rejected."""

    model_config = ConfigDict(extra="forbid")
    icon_class: str = "bug"
    description: str = ""
    references: list[SourceReference] = []
    kafka: SourceKafka = SourceKafka()
    partition_unit: PartitionUnit = "year"
    expire_events_after: str = "0"
    elastic: dict[str, Any] = {}
    exclude_from_backup: bool = False

    @field_validator("expire_events_after")
    @classmethod
    def _check_duration(cls, v: str) -> str:
        duration_ms(v)
        return v

    @property
    def expire_events_ms(self) -> int:
        return duration_ms(self.expire_events_after)

    @property
    def kafka_config_full(self) -> dict[str, str]:
        full = dict(self.kafka.config)
        full["cleanup.policy"] = "compact" if self.expire_events_ms < 0 else "delete"
        full["retention.ms"] = str(self.expire_events_ms)
        return full

    @property
    def priority_references(self) -> list[str]:
        return [r.name for r in self.references if r.priority]

    def dump(self) -> dict[str, Any]:
        """The Azul wire form, with the computed fields clients expect."""
        out = self.model_dump()
        out["expire_events_ms"] = self.expire_events_ms
        out["kafka_config_full"] = self.kafka_config_full
        return out


class LabelOption(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    priority: int = 0
    min_priority: int | None = None
    max_priority: int | None = None
    enforce_security: bool = False


class LabelGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: shown by UIs; accepted so a real Azul SECURITY_LABELS value loads unchanged
    title: str = ""
    options: list[LabelOption] = []


class ReleasabilityGroup(LabelGroup):
    origin: str = ""
    origin_alt_name: str = ""
    prefix: str = "REL:"


class SecurityLabels(BaseModel):
    """The label vocabulary (azul-security's ``SECURITY_LABELS`` shape)."""

    model_config = ConfigDict(extra="forbid")
    classification: LabelGroup = LabelGroup(
        options=[LabelOption(name="OFFICIAL", priority=10), LabelOption(name="SECRET", priority=30)]
    )
    caveat: LabelGroup = LabelGroup()
    releasability: ReleasabilityGroup = ReleasabilityGroup()
    tlp: LabelGroup = LabelGroup(
        options=[
            LabelOption(name="TLP:CLEAR"),
            LabelOption(name="TLP:GREEN"),
            LabelOption(name="TLP:AMBER"),
            LabelOption(name="TLP:AMBER+STRICT", enforce_security=True),
            LabelOption(name="TLP:RED", enforce_security=True),
        ]
    )


class ApiToken(BaseModel):
    """A static API token. Only the sha256 of the token is configured, never the token itself."""

    model_config = ConfigDict(extra="forbid")
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    username: str
    roles: list[str] = []
    email: str = ""


class Settings(BaseSettings):
    """Every setting of the metastore. See README "Configuration" for the full table."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        case_sensitive=False,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # --- where things live --------------------------------------------------------------------
    data_dir: Path = Path("var/data")
    partition: Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")] = "dev01"
    # Only adapters that exist are accepted; the scale-out ones join these lists as they land.
    index_backend: Literal["sqlite", "opensearch"] = "sqlite"
    blob_backend: Literal["filesystem", "s3"] = "filesystem"
    events_backend: Literal["sqlite", "kafka"] = "sqlite"

    opensearch_url: str = "http://127.0.0.1:9200"
    opensearch_username: str = "azul_writer"
    opensearch_password: SecretStr = SecretStr("")
    opensearch_admin_username: str = "azul_admin"
    opensearch_admin_password: SecretStr = SecretStr("")
    certificate_verification: bool = True
    opensearch_shards: Annotated[int, Field(ge=1)] = 1
    opensearch_replicas: Annotated[int, Field(ge=0)] = 0
    # binary2 documents in Azul's sixteen indices (by first hex digit) or in one (fewer shards for
    # each search to visit on a small cluster); fixed per partition (index/opensearch/templates.py)
    opensearch_binary_indices: Literal["hex", "single"] = "hex"
    # gzipped answers from OpenSearch: worth it only across a slow link (index/opensearch/client.py)
    opensearch_compress_answers: bool = False

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_topic_prefix: str = "azul"

    s3_endpoint_url: str = "http://127.0.0.1:8333"
    s3_access_key: str = ""
    s3_secret_key: SecretStr = SecretStr("")
    s3_bucket: str = "azul-metastore"
    s3_region: str = "us-east-1"

    # --- sources and retention ----------------------------------------------------------------
    sources: dict[str, Source] = {}
    status_partition_unit: PartitionUnit = "week"
    status_expire_events: str = "2 weeks"
    ingestor_version_suffix: str = "0"

    # --- API -----------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    readonly_mode: bool = False
    max_event_bytes: Annotated[int, Field(ge=1024)] = 2 * 1024 * 1024
    warn_on_event_count: Annotated[int, Field(ge=1)] = 10_000

    # --- security and authentication ----------------------------------------------------------
    security_labels: SecurityLabels = SecurityLabels()
    security_default: str = "OFFICIAL"
    security_presets: list[str] = []
    security_minimum_required_access: list[str] = []
    security_allow_releasability_priority_gte: int = 30
    security_admin_roles: list[str] = ["admin"]
    auth_open: bool = False
    auth_open_roles: list[str] = ["admin"]
    # Roles that may use the dispatcher-side event and stream APIs (plugins, ingest services); a caller
    # needs one of them. Empty: any authenticated identity may.
    auth_service_roles: list[str] = ["admin", "plugin"]
    api_tokens: list[ApiToken] = []
    jwt_public_keys: list[str] = []
    jwt_jwks_url: str = ""
    jwt_issuer: str = ""
    jwt_audience: str = ""
    jwt_leeway_seconds: Annotated[int, Field(ge=0)] = 30
    jwt_algorithms: list[str] = ["RS256", "ES256", "PS256"]
    jwt_username_claim: str = "preferred_username"
    jwt_roles_claim: str = "roles"
    # HS* tokens are refused unless this shared secret is set (OpenSearch demo / tests only).
    jwt_hs256_secret: SecretStr = SecretStr("")

    # --- content -------------------------------------------------------------------------------
    upload_max_bytes: Annotated[int, Field(ge=1)] = 8 * 1024**3
    malpz_max_bytes: Annotated[int, Field(ge=1)] = 100 * 1024**2
    extract_max_upload_bytes: Annotated[int, Field(ge=1)] = 100 * 1024**2
    extract_max_members: Annotated[int, Field(ge=1)] = 1000
    extract_max_total_bytes: Annotated[int, Field(ge=1)] = 200 * 1024**2
    extract_max_ratio: Annotated[float, Field(gt=1)] = 100.0
    extract_max_path_length: Annotated[int, Field(ge=1)] = 255
    extract_max_nesting: Annotated[int, Field(ge=0)] = 1
    download_zip_password: SecretStr = SecretStr("infected")
    download_allow_plain: bool = False

    # --- ingestion -----------------------------------------------------------------------------
    ingest_batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500
    # how long a stopped ingestor may still wait for records before it notices (SIGTERM)
    ingest_poll_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0
    dedupe_cache_count: Annotated[int, Field(ge=0)] = 1_000_000
    ingest_binary_processes: Annotated[int, Field(ge=1, le=64)] = 2
    prometheus_port: Annotated[int, Field(ge=0, le=65535)] = 8900

    # --- lifecycle -----------------------------------------------------------------------------
    age_off_interval_seconds: Annotated[int, Field(ge=1, le=MAX_SECONDS)] = 3600
    lost_task_timeout_seconds: Annotated[int, Field(ge=1, le=MAX_SECONDS)] = 1800
    lost_task_check_seconds: Annotated[int, Field(ge=1, le=MAX_SECONDS)] = 300
    # the back-off doubles per attempt: 30 attempts of a day's back-off already span millions of years
    retry_max_attempts: Annotated[int, Field(ge=0, le=30)] = 3
    retry_backoff_seconds: Annotated[float, Field(ge=0, le=86_400)] = 60.0
    retry_transient_statuses: list[str] = ["error-network", "error-timeout"]
    reprocess_events_per_second: Annotated[float, Field(gt=0)] = 200.0

    # --- logging -------------------------------------------------------------------------------
    log_level: Literal["FATAL", "CRITICAL", "ERROR", "WARN", "WARNING", "INFO", "DEBUG"] = "INFO"
    audit_log_file_path: str = ""
    audit_log_days_to_retain: Annotated[int, Field(ge=1)] = 30

    @field_validator("status_expire_events")
    @classmethod
    def _check_status_duration(cls, v: str) -> str:
        duration_ms(v)
        return v

    @property
    def status_expire_events_ms(self) -> int:
        return duration_ms(self.status_expire_events)

    @cached_property
    def source_priority_references(self) -> dict[str, list[str]]:
        return {name: s.priority_references for name, s in self.sources.items()}

    @property
    def index_path(self) -> Path:
        return self.data_dir / "index.sqlite3"

    @property
    def events_path(self) -> Path:
        return self.data_dir / "events.sqlite3"

    @property
    def blobs_path(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def purge_path(self) -> Path:
        return self.data_dir / "purge"

    def masked(self) -> dict[str, Any]:
        """The effective configuration as JSON-able data, secrets shown as ``**********``."""
        data = self.model_dump(mode="json")
        for name, field in type(self).model_fields.items():
            if field.annotation is SecretStr:
                data[name] = "**********" if getattr(self, name).get_secret_value() else ""
        return data


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; raise ConfigError naming each bad variable."""
    env_file = os.environ.get(f"{ENV_PREFIX}ENV_FILE")
    if env_file and not os.path.isfile(env_file):
        # pydantic-settings skips a missing file without a word, and the defaults would be used
        raise ConfigError(f"{ENV_PREFIX}ENV_FILE {env_file!r} is not a file")
    try:
        if env_file:
            return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
        return Settings(**overrides)
    except SettingsError as exc:  # a JSON value that does not parse
        raise ConfigError(f"invalid configuration: {exc} (it must be JSON)") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{ENV_PREFIX}ENV_FILE {env_file!r} is not UTF-8 text ({exc.reason} at byte {exc.start})"
                          ) from exc
    except OSError as exc:
        raise ConfigError(f"{ENV_PREFIX}ENV_FILE {env_file!r} cannot be read: {exc.strerror}") from exc
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            var = ENV_PREFIX + loc[0].upper() if loc else ENV_PREFIX
            where = f" (at {'.'.join(loc[1:])})" if len(loc) > 1 else ""
            problems.append(f"{var}{where}: {err['msg']}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems)) from exc
