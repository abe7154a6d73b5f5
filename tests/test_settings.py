"""Settings: environment, TOML file, validation messages that name the setting, secrets hidden."""

from __future__ import annotations

import pytest

from triage.config import SettingsError, load_settings


def test_defaults_are_embedded(settings_factory):
    s = load_settings()
    assert s.database_url.startswith("sqlite:///") and "var/" in s.database_url
    assert s.effective_slack_mode == "off" and not s.imap_enabled


def test_environment_overrides_and_slack_names(settings_factory, monkeypatch):
    monkeypatch.setenv("TRIAGE_IMAP_HOST", "imap.example.org")
    monkeypatch.setenv("TRIAGE_IMAP_USER", "qa")
    monkeypatch.setenv("TRIAGE_IMAP_PASSWORD", "s3cret-imap")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing")
    monkeypatch.setenv("TRIAGE_ACK_ALLOWED_DOMAINS", '["Wyvernshire.example.org", "@nhs.net"]')
    s = load_settings()
    assert s.imap_enabled and s.imap_password.get_secret_value() == "s3cret-imap"
    assert s.effective_slack_mode == "http"
    assert s.ack_allowed_domains == ["wyvernshire.example.org", "nhs.net"]
    # Secrets never show in the settings' representation.
    assert "s3cret-imap" not in repr(s) and "xoxb-test" not in str(s.model_dump())


def test_toml_file_and_env_precedence(settings_factory, monkeypatch, tmp_path):
    cfg = tmp_path / "triage.toml"
    cfg.write_text('escalation_immediate_minutes = 45\nrisk_red_threshold = 70.0\nsmtp_host = "mail.local"\n')
    monkeypatch.setenv("TRIAGE_CONFIG", str(cfg))
    monkeypatch.setenv("TRIAGE_SMTP_HOST", "override.local")
    s = load_settings()
    assert s.escalation_immediate_minutes == 45 and s.risk_red_threshold == 70.0
    assert s.smtp_host == "override.local"


def test_bad_value_names_the_setting_without_echoing_it(settings_factory, monkeypatch):
    monkeypatch.setenv("TRIAGE_IMAP_PORT", "not-a-port-secret")
    with pytest.raises(SettingsError) as exc:
        load_settings()
    assert "imap_port" in str(exc.value) and "TRIAGE_IMAP_PORT" in str(exc.value)
    assert "not-a-port-secret" not in str(exc.value)


def test_cross_field_validation(settings_factory):
    with pytest.raises(SettingsError, match="risk_red_threshold"):
        load_settings(risk_red_threshold=10, risk_amber_threshold=20)
    with pytest.raises(SettingsError, match="imap_user"):
        load_settings(imap_host="imap.example.org")


def test_missing_config_file_is_a_clear_error(settings_factory, monkeypatch, tmp_path):
    monkeypatch.setenv("TRIAGE_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(SettingsError, match="TRIAGE_CONFIG"):
        load_settings()


def test_postgres_url_gets_driver(settings_factory):
    assert load_settings(database_url="postgresql://u@h/db").database_url == "postgresql+psycopg://u@h/db"
    with pytest.raises(SettingsError, match="database_url"):
        load_settings(database_url="mysql://x")
