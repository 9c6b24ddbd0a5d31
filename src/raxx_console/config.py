"""Settings: every environment variable the runbooks name, strictly parsed.

A malformed value stops start-up with a message that names the variable and what it
expected — never the value, since half of these are secrets. Feature flags (``FLAG_*``)
are deliberately *not* parsed here: a bad flag value must not crash-loop the dynos in
the middle of an incident, so ``raxx_console.flags`` reads them leniently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(Exception):
    """Start-up configuration is unusable; the message is safe to print."""


class ConsoleEnv(StrEnum):
    production = "production"
    staging = "staging"
    development = "development"


def parse_duration(value: Any) -> float:
    """Seconds from ``90``, ``"90"``, ``"15m"``, ``"4h"`` or ``"1d"``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError("expected a duration such as 30, 30s, 15m, 4h or 1d")
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError("expected a positive duration")
    return seconds


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _pairs(shape: str, normalize_value: Callable[[str], str], allowed: frozenset[str] | None = None) -> Any:
    """A parser for ``key=value,key=value`` variables; keys are lower-cased."""

    def parse(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        mapping: dict[str, str] = {}
        for pair in filter(str.strip, value.split(",")):
            key, sep, item = (part.strip() for part in pair.partition("="))
            item = normalize_value(item)
            if not sep or not key or not item or (allowed is not None and item not in allowed):
                raise ValueError(f"expected {shape} pairs separated by commas")
            mapping[key.lower()] = item
        return mapping

    return parse


#: ``console.raxx.app=production,…``: which env a host serves (env_guard).
_host_map = _pairs("host=env", str.lower)
#: ``staging=https://…,production=https://…``: the two consoles' base URLs (peers.py).
_peer_urls = _pairs("staging|production=URL", lambda url: url.strip().rstrip("/"))
#: ``critical=P1,warning=P2``: Alertmanager's severity label → our severities.
_label_map = _pairs("label=P1|P2|P3", str.upper, frozenset({"P1", "P2", "P3"}))


Duration = Annotated[float, BeforeValidator(parse_duration)]
CsvList = Annotated[list[str], NoDecode, BeforeValidator(_csv)]
HostEnvMap = Annotated[dict[str, ConsoleEnv], NoDecode, BeforeValidator(_host_map)]
SeverityMap = Annotated[dict[str, str], NoDecode, BeforeValidator(_label_map)]
PeerUrlMap = Annotated[dict[ConsoleEnv, str], NoDecode, BeforeValidator(_peer_urls)]


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


OptionalInt = Annotated[int | None, BeforeValidator(_blank_to_none)]
OptionalStr = Annotated[str | None, BeforeValidator(_blank_to_none)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_blank_to_none)]


class Settings(BaseSettings):
    """The console's configuration. Field names are the env var names."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", env_file=None)

    # --- the deployment -------------------------------------------------------------
    CONSOLE_ENV: ConsoleEnv = ConsoleEnv.development
    CONSOLE_HOST_ENV_MAP: HostEnvMap = Field(default_factory=dict)
    CONSOLE_BASE_URL: OptionalStr = None
    SECRET_KEY: OptionalSecret = None
    DATABASE_URL: OptionalSecret = None
    INSTANCE_PATH: OptionalStr = None
    WEB_CONCURRENCY: int = Field(default=2, ge=1, le=64)
    SOURCE_VERSION: OptionalStr = None
    HEROKU_SLUG_COMMIT: OptionalStr = None
    HEROKU_RELEASE_CREATED_AT: OptionalStr = None
    #: Sandbox only (version.py): /version reports what the GitHub sandbox deployed here.
    VERSION_SANDBOX_DEPLOYED_URL: OptionalStr = None
    MAX_CONTENT_LENGTH: int = Field(default=2 * 1024 * 1024, ge=1024)
    LOG_LEVEL: str = "INFO"

    # --- the web edge: proxies we trust, sessions ---------------------------------------
    #: Proxies in front of the web process that append to X-Forwarded-For (0: trust none).
    PROXY_X_FOR_HOPS: int = Field(default=0, ge=0, le=5)
    #: Proxies that set X-Forwarded-Proto (0: the connection's own scheme).
    PROXY_X_PROTO_HOPS: int = Field(default=0, ge=0, le=5)
    #: Proxies that set X-Forwarded-Host. 0 (the default) means ``Host`` decides, always.
    PROXY_X_HOST_HOPS: int = Field(default=0, ge=0, le=5)
    SESSION_IDLE_TIMEOUT: Duration = 12 * 3600.0
    SESSION_MAX_AGE: Duration = 7 * 86400.0

    # --- FreeScout (incident runbook, Step 0) ---------------------------------------
    FREESCOUT_API_URL: OptionalStr = None
    FREESCOUT_INSTANCE_URL: OptionalStr = None
    FREESCOUT_API_KEY: OptionalSecret = None
    FREESCOUT_OPERATIONS_MAILBOX_ID: OptionalInt = None
    FREESCOUT_SUPPORT_MAILBOX_ID: OptionalInt = None
    FREESCOUT_BOT_USER_ID: OptionalInt = None
    FREESCOUT_CF_ACCESS_REQUIRED: bool = True
    FREESCOUT_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0, le=120)
    CF_ACCESS_SVC_TICKETS_CLIENT_ID: OptionalStr = None
    CF_ACCESS_SVC_TICKETS_CLIENT_SECRET: OptionalSecret = None
    CONSOLE_TICKET_CUSTOMER_EMAIL: str = "ops-console@raxx.app"

    # --- Cloudflare Access identity for people using the console --------------------
    CF_ACCESS_TEAM_DOMAIN: OptionalStr = None
    CF_ACCESS_AUD: OptionalStr = None
    CF_ACCESS_CERTS_URL: OptionalStr = None

    # --- the other console (peers.py) -----------------------------------------------
    CONSOLE_PEER_URLS: PeerUrlMap = Field(default_factory=dict)
    CONSOLE_PEER_TOKEN: OptionalSecret = None
    CONSOLE_PEER_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0, le=60)
    CF_ACCESS_SVC_CONSOLE_CLIENT_ID: OptionalStr = None
    CF_ACCESS_SVC_CONSOLE_CLIENT_SECRET: OptionalSecret = None

    # --- Slack ----------------------------------------------------------------------
    SLACK_BOT_TOKEN: OptionalSecret = None
    SLACK_API_URL: str = "https://slack.com/api/"
    SLACK_ALERT_DM_USER_IDS: CsvList = Field(default_factory=list)
    SLACK_REPEAT_INTERVAL: Duration = 4 * 3600.0

    # --- status poller and alerts ----------------------------------------------------
    SURFACES_FILE: OptionalStr = None
    POLL_INTERVAL_SECONDS: Duration = 30.0
    ALERT_REOPEN_COOLDOWN: Duration = 3600.0
    INVESTIGATE_DEDUP_WINDOW: Duration = 3600.0
    ALERTMANAGER_SEVERITY_MAP: SeverityMap = Field(
        default_factory=lambda: {"critical": "P1", "warning": "P2"}
    )
    FLAG_CACHE_TTL_SECONDS: Duration = 30.0
    # --- outbox delivery: deliverers per third party (bench/alert_storm.py measured them) ---
    #: A ticket holds a deliverer for its create and tag calls (2 FreeScout round trips), so the
    #: drain rate is at most this / (2L + ~20 ms): 16 drained a storm at 53-63 tickets/s, 32 at
    #: 83-97 (docs/decisions.md: the FreeScout pool holds 32 deliverers).
    OUTBOX_FREESCOUT_CONCURRENCY: int = Field(default=32, ge=1, le=64)
    OUTBOX_SLACK_CONCURRENCY: int = Field(default=8, ge=1, le=32)

    # --- deploys (GitHub Actions, cockpit runbook §4) -----------------------------------
    GITHUB_TOKEN: OptionalSecret = None
    GITHUB_REPOSITORY: OptionalStr = None
    GITHUB_API_URL: str = "https://api.github.com"
    GITHUB_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0, le=60)
    DEPLOY_SYNC_BOUND_SECONDS: float = Field(default=25.0, gt=0, le=29)
    DEPLOY_FOLLOW_INTERVAL: Duration = 10.0
    DEPLOY_INCIDENT_WINDOW: Duration = 2 * 3600.0
    # --- secrets rotation: the vault (Infisical) and the apps' config vars (Heroku) ---
    HEROKU_API_URL: str = "https://api.heroku.com"
    HEROKU_API_TOKEN: OptionalSecret = None
    INFISICAL_API_URL: str = "https://app.infisical.com"
    INFISICAL_CLIENT_ID: OptionalStr = None
    INFISICAL_CLIENT_SECRET: OptionalSecret = None
    INFISICAL_PROJECT_ID: OptionalStr = None
    INFISICAL_ENVIRONMENT: str = "prod"
    SECRETS_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0, le=120)

    # --- observability ----------------------------------------------------------------
    SENTRY_DSN: OptionalSecret = None

    @field_validator("FREESCOUT_API_URL", "FREESCOUT_INSTANCE_URL", "CONSOLE_BASE_URL")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("expected an http(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("GITHUB_API_URL", "HEROKU_API_URL", "INFISICAL_API_URL")
    @classmethod
    def _api_base_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("expected an http(s) URL")
        return value.rstrip("/")

    @field_validator("GITHUB_REPOSITORY")
    @classmethod
    def _repository(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$", value):
            raise ValueError("expected owner/name")
        return value

    @field_validator("CONSOLE_PEER_URLS")
    @classmethod
    def _peer_urls(cls, value: dict[ConsoleEnv, str]) -> dict[ConsoleEnv, str]:
        if ConsoleEnv.development in value:
            raise ValueError("expected staging=URL and/or production=URL pairs")
        if not all(re.match(r"^https?://[^\s/]+", url) for url in value.values()):
            raise ValueError("expected an http(s) URL for each env")
        return value

    @field_validator("SLACK_API_URL")
    @classmethod
    def _slack_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("expected an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("LOG_LEVEL")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
        return level

    @model_validator(mode="after")
    def _production_needs_secret_key(self) -> Settings:
        if self.CONSOLE_ENV is ConsoleEnv.production and self.SECRET_KEY is None:
            raise ValueError("SECRET_KEY is required when CONSOLE_ENV=production")
        return self

    @model_validator(mode="after")
    def _sandbox_version_not_in_production(self) -> Settings:
        if self.CONSOLE_ENV is ConsoleEnv.production and self.VERSION_SANDBOX_DEPLOYED_URL:
            raise ValueError("VERSION_SANDBOX_DEPLOYED_URL is for the sandbox; unset it in production")
        return self

    # ------------------------------------------------------------------------------
    @property
    def is_production(self) -> bool:
        return self.CONSOLE_ENV is ConsoleEnv.production

    @property
    def instance_path(self) -> Path:
        return Path(self.INSTANCE_PATH or Path.cwd() / "instance")

    def secret_values(self) -> list[str]:
        """Every configured secret, for the log redaction filter."""
        values = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
        return values

    def secret(self, name: str) -> str | None:
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else value


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Read the environment (and test overrides); raise ConfigError naming bad variables."""
    try:
        return Settings(**(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per bad variable, saying what was expected and never echoing the value."""
    lines = ["invalid configuration:"]
    for error in exc.errors(include_input=False, include_url=False):
        # Only the variable: deeper parts of ``loc`` (a host map's key) are values, not names.
        name = str(error["loc"][0]) if error["loc"] else "settings"
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"  {name}: {message}")
    return "\n".join(lines)
