"""Configuration: impossible or unsafe settings are refused at start-up, naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import run_vagus
from vagus.config import ConfigError, VagusConfig, load_config


def _write(tmp_path: Path, text: str, name: str = "vagus.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_without_a_file() -> None:
    assert load_config(None) == VagusConfig()


def test_a_full_file_loads(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
[kafka]
bootstrap = "kafka.example:9093"
security_protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-512"
sasl_username = "gateway-17"
[windows]
hop_s = 5.0
[policy]
cooldown_s = 3600.0
timezone = "Europe/Berlin"
""",
    )
    config = load_config(path)
    assert config.kafka.sasl_mechanism == "SCRAM-SHA-512"
    assert config.windows.hop_s == 5.0
    assert config.policy.timezone == "Europe/Berlin"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[kafka]\nsecurity_protocol = 'SASL_SSL'\n", "needs sasl_mechanism"),
        ("[windows]\nhop_s = 0\n", "hop_s"),
        ("[windows]\nwindow_s = 60\ncalibration_s = 10\n", "calibration_s"),
        ("[policy]\nsession_duration_s = 7200.0\n", "session_duration_s=7200"),
        ("[policy]\nmax_sessions_per_day = 50\n", "max_sessions_per_day=50"),
        ("[device_limits]\nmax_intensity = 2.0\n", "max_intensity"),
        ("[device_limits]\ntimezone = 'Mars/Olympus'\n", "timezone 'Mars/Olympus' is unknown"),
        ("[kafka]\nbootstrapp = 'x'\n", "bootstrapp"),
        ("[kafka\n", "not valid TOML"),
    ],
)
def test_bad_configuration_is_refused_with_the_reason(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=fragment) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_sasl_password_comes_only_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    config = VagusConfig()
    kafka = config.kafka.with_bootstrap("kafka.example:9093")
    from stream.errors import ConfigurationError
    from stream.settings import KafkaSettings

    sasl = KafkaSettings(
        bootstrap="kafka.example:9093",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="gw",
    )
    monkeypatch.delenv("VAGUS_KAFKA_SASL_PASSWORD", raising=False)
    with pytest.raises(ConfigurationError, match="VAGUS_KAFKA_SASL_PASSWORD"):
        sasl.client_kwargs()
    secret = "from-the-environment"
    monkeypatch.setenv("VAGUS_KAFKA_SASL_PASSWORD", secret)
    assert sasl.client_kwargs()["sasl_plain_password"] == secret
    assert "sasl_plain_password" not in kafka.client_kwargs()


def test_sasl_password_from_the_services_credential(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Under systemd (LoadCredential=, deploy/systemd) the password is a file in the service's
    credentials folder; the environment variable still wins."""
    from stream.settings import KafkaSettings

    sasl = KafkaSettings(
        bootstrap="kafka.example:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="gateway",
    )
    monkeypatch.delenv("VAGUS_KAFKA_SASL_PASSWORD", raising=False)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    (tmp_path / "kafka-sasl-password").write_text("from-the-credential\n")
    assert sasl.client_kwargs()["sasl_plain_password"] == "from-the-credential"
    monkeypatch.setenv("VAGUS_KAFKA_SASL_PASSWORD", "from-the-environment")
    assert sasl.client_kwargs()["sasl_plain_password"] == "from-the-environment"


def test_cli_reports_a_bad_file_and_exits_2(tmp_path: Path) -> None:
    path = _write(tmp_path, "[policy]\nintensity = 0.95\n")
    result = run_vagus("--config", str(path), "recording", "info", "x.vrec")
    assert result.returncode == 2
    assert "intensity=0.95 is outside the safe range" in result.stderr


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1.0", "1e12"])
def test_cli_refuses_an_impossible_min_gap_naming_the_key(tmp_path: Path, value: str) -> None:
    """The fault of issue 13: min_gap_s = nan was accepted and switched the minimum gap off."""
    path = _write(tmp_path, f"[device_limits]\nmin_gap_s = {value}\n")
    result = run_vagus("--config", str(path), "doctor", "--json")
    assert result.returncode == 2
    assert result.stderr.startswith(f"vagus: {path}: Expected `float`")
    assert "`$.device_limits.min_gap_s`" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_policy_the_device_would_always_refuse_is_refused_at_load(tmp_path: Path) -> None:
    path = _write(tmp_path, "[device_limits]\nmax_intensity = 0.3\n")  # the policy asks 0.5
    with pytest.raises(ConfigError, match=r"\[policy\] intensity=0.5 exceeds \[device_limits\]"):
        load_config(path)
