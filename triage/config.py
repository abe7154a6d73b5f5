"""One validated settings object for the whole product.

Sources, highest priority first: keyword arguments, environment variables
(prefixed ``TRIAGE_``; Slack's own names ``SLACK_BOT_TOKEN``, ``SLACK_SIGNING_SECRET``
and ``SLACK_APP_TOKEN`` are accepted as Slack documents them), the optional TOML file
named by ``TRIAGE_CONFIG``, then the defaults below.
"""

from __future__ import annotations

import os
from datetime import date, time
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class SettingsError(RuntimeError):
    """Raised at start-up when a setting is invalid; the message names the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TRIAGE_",
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
    )

    # --- store and files -------------------------------------------------------------
    database_url: str = "sqlite:///./var/triage.db"
    data_dir: Path = Path("./var")
    # Trained classifier artefacts live here, never in models/ (that package is DB tables).
    model_dir: Path = Path("./var/classifier")
    training_data_dir: Path | None = None  # default: the repo's training_data/
    reference_prefix: str = "CC"
    timezone: str = "Europe/London"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    # --- IMAP (off unless TRIAGE_IMAP_HOST is set) -----------------------------------
    imap_host: str | None = None
    imap_port: int = Field(993, ge=1, le=65535)
    imap_user: str | None = None
    imap_password: SecretStr | None = None
    imap_tls: bool = True
    imap_folder: str = "INBOX"
    imap_processed_folder: str = "Processed"
    imap_quarantine_folder: str = "Quarantine"
    imap_use_idle: bool = True
    imap_poll_seconds: float = Field(60.0, gt=0)
    imap_idle_seconds: float = Field(300.0, gt=0)  # RFC 2177 asks clients to re-IDLE within 29 min
    # imaplib can buffer a new-mail notice where IDLE polling never sees it (it arrives in the
    # same packet as another line); ending and re-checking every few seconds bounds that delay.
    imap_idle_recheck_seconds: float = Field(5.0, gt=0)
    imap_max_backoff_seconds: float = Field(300.0, gt=0)

    # --- SMTP (outgoing acknowledgements, alerts and digests) -------------------------
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_from: str = "qa-intelligence@example.org"
    smtp_timeout_seconds: float = Field(30.0, gt=0)
    ack_enabled: bool = False
    # Only senders in these domains get an acknowledgement: never reply to the world.
    ack_allowed_domains: list[str] = Field(default_factory=list)

    # --- Slack (off unless a bot token is set) ----------------------------------------
    slack_bot_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "TRIAGE_SLACK_BOT_TOKEN", "slack_bot_token")
    )
    slack_signing_secret: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "TRIAGE_SLACK_SIGNING_SECRET", "slack_signing_secret"),
    )
    slack_app_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "TRIAGE_SLACK_APP_TOKEN", "slack_app_token")
    )
    slack_api_url: str = "https://slack.com/api/"
    # auto: Socket Mode when an app token is set, else HTTP when a signing secret is set.
    slack_mode: Literal["auto", "http", "socket", "off"] = "auto"
    # Link target for the alert's "Open" button; {reference} and {id} are filled in.
    concern_url_template: str = "http://localhost:8080/concerns/{id}"

    # --- HTTP endpoints of `triage serve` (Slack events in HTTP mode, health, metrics) --
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)

    # --- alert delivery ----------------------------------------------------------------
    alert_via_slack: bool = True
    alert_via_email: bool = True
    alert_dispatch_seconds: float = Field(15.0, gt=0)  # outbox retry sweep

    # --- escalation ---------------------------------------------------------------------
    escalation_immediate_minutes: float = Field(30.0, gt=0)
    # After the manager was paged and still nobody acknowledged, the duty desk.
    escalation_duty_minutes: float = Field(30.0, gt=0)
    escalation_high_working_days: int = Field(1, ge=1)
    working_day_start: time = time(9, 0)
    working_day_end: time = time(17, 0)
    working_weekdays: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    bank_holiday_country: str = "GB"
    bank_holiday_subdivision: str = "ENG"
    extra_bank_holidays: list[date] = Field(default_factory=list)

    # --- risk scoring (see docs/risk.md for the reasoning behind each default) ----------
    risk_half_life_days: float = Field(28.0, gt=0)
    risk_weight_immediate: float = 30.0
    risk_weight_high: float = 15.0
    risk_weight_medium: float = 5.0
    risk_weight_low: float = 0.0
    risk_weight_safeguarding: float = 10.0
    risk_weight_cqc_inadequate_overall: float = 30.0
    risk_weight_cqc_inadequate_key_question: float = 20.0
    risk_weight_cqc_requires_improvement_overall: float = 10.0
    risk_weight_cqc_requires_improvement_key_question: float = 3.0
    risk_weight_cqc_unrated: float = 5.0
    risk_weight_manager_vacant: float = 15.0
    risk_weight_manager_acting: float = 8.0
    risk_weight_manager_recent_change: float = 8.0
    risk_manager_recent_days: int = 180
    risk_weight_contract_suspended: float = 25.0
    risk_weight_council_funded_high: float = 8.0
    risk_council_funded_threshold: float = Field(0.6, ge=0, le=1)
    risk_weight_financial_medium: float = 5.0
    risk_weight_financial_high: float = 15.0
    risk_weight_qa_visit_overdue: float = 5.0
    risk_qa_visit_overdue_days: int = 365
    risk_amber_threshold: float = 25.0
    risk_red_threshold: float = 50.0
    early_warning_count: int = Field(3, ge=2)
    early_warning_days: int = Field(14, ge=1)
    early_warning_sources: int = Field(2, ge=1)
    early_warning_score_jump: float = 20.0
    # Reports of one incident arriving by email and Slack within this window share an alert.
    alert_group_minutes: int = Field(120, ge=0)
    # A storm about one home within this window updates one alert instead of sending more.
    alert_storm_minutes: int = Field(15, ge=0)

    # --- digests and retraining ----------------------------------------------------------
    digest_time: time = time(8, 0)
    weekly_summary_weekday: int = Field(0, ge=0, le=6)
    retrain_cron: str | None = None  # e.g. "0 2 * * 6" for 02:00 every Saturday

    @field_validator("working_weekdays")
    @classmethod
    def _weekdays(cls, v: list[int]) -> list[int]:
        if not v or any(d < 0 or d > 6 for d in v):
            raise ValueError("working_weekdays must list weekday numbers 0 (Monday) to 6 (Sunday)")
        return sorted(set(v))

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, v: str) -> str:
        if not (v.startswith("sqlite") or v.startswith("postgresql")):
            raise ValueError("database_url must be an sqlite:/// or postgresql+psycopg:// URL")
        if v.startswith("postgresql://") or v.startswith("postgres://"):
            v = "postgresql+psycopg://" + v.split("://", 1)[1]
        return v

    @field_validator("ack_allowed_domains", mode="before")
    @classmethod
    def _domains(cls, v):
        if isinstance(v, str):
            v = [d for d in v.replace(";", ",").split(",")]
        return [d.strip().lower().lstrip("@") for d in v if d and d.strip()]

    @model_validator(mode="after")
    def _consistency(self) -> "Settings":
        if self.risk_red_threshold <= self.risk_amber_threshold:
            raise ValueError("risk_red_threshold must be above risk_amber_threshold")
        if self.working_day_end <= self.working_day_start:
            raise ValueError("working_day_end must be after working_day_start")
        if self.imap_host and not (self.imap_user and self.imap_password):
            raise ValueError("imap_host is set, so imap_user and imap_password are needed too")
        return self

    # --- derived ---------------------------------------------------------------------------
    @property
    def imap_enabled(self) -> bool:
        return bool(self.imap_host)

    @property
    def smtp_enabled(self) -> bool:
        return bool(self.smtp_host)

    @property
    def effective_slack_mode(self) -> str:
        if self.slack_mode != "auto":
            return self.slack_mode
        if not self.slack_bot_token:
            return "off"
        if self.slack_app_token:
            return "socket"
        if self.slack_signing_secret:
            return "http"
        return "off"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get("TRIAGE_CONFIG")
        if toml_path:
            if not Path(toml_path).is_file():
                raise SettingsError(f"TRIAGE_CONFIG points to {toml_path!r}, which is not a readable file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


def _describe(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "settings"
        env = f"TRIAGE_{loc.upper()}" if e["loc"] else ""
        # Never echo the rejected input: it may be a secret.
        where = f"{loc} ({env})" if env else loc
        lines.append(f"  - {where}: {e['msg']}")
    return "Invalid configuration:\n" + "\n".join(lines)


def load_settings(**overrides) -> Settings:
    """Build and validate settings; raises SettingsError naming each bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as err:
        raise SettingsError(_describe(err)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()
