"""Clinician policy tooling against the real broker: validated, versioned, audited changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stream.settings import KafkaSettings
from tests.helpers import PATIENT, config_with_topics, run_vagus

pytestmark = pytest.mark.broker


async def test_set_show_history_and_refusals(kafka: KafkaSettings, tmp_path: Path) -> None:
    config = str(await config_with_topics(kafka, tmp_path))
    shown = run_vagus("--config", config, "policy", "show", PATIENT)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["source"] == "configured default"

    changed = run_vagus(
        "--config",
        config,
        "policy",
        "set",
        PATIENT,
        "cooldown_s=3600",
        "quiet_hours_start=21",
        "--actor",
        "clinician:c-17",
        "--reason",
        "sessions felt too frequent",
    )
    assert changed.returncode == 0, changed.stderr
    assert "policy v1 published" in changed.stdout
    assert "cooldown_s: 1800.0 -> 3600.0" in changed.stdout

    unsafe = run_vagus(
        "--config",
        config,
        "policy",
        "set",
        PATIENT,
        "session_duration_s=7200",
        "--actor",
        "clinician:c-17",
        "--reason",
        "typo",
    )
    assert unsafe.returncode == 2
    assert "session_duration_s=7200 is outside the safe range" in unsafe.stderr
    garbage = run_vagus(
        "--config",
        config,
        "policy",
        "set",
        PATIENT,
        "cooldown_s=soon",
        "--actor",
        "clinician:c-17",
        "--reason",
        "typo",
    )
    assert garbage.returncode == 2 and "cooldown_s='soon'" in garbage.stderr

    second = run_vagus(
        "--config",
        config,
        "policy",
        "set",
        PATIENT,
        "intensity=0.3",
        "--actor",
        "clinician:c-18",
        "--reason",
        "gentler",
    )
    assert "policy v2 published" in second.stdout

    both = run_vagus(
        "--config",
        config,
        "policy",
        "set",
        PATIENT,
        "modalities=paced_breathing,vibroacoustic",
        "randomisation_probability=0.2",
        "--actor",
        "clinician:c-18",
        "--reason",
        "compare modalities",
    )
    assert "policy v3 published" in both.stdout, both.stderr
    too_random = run_vagus(
        "--config",
        config,
        "policy",
        "set",
        PATIENT,
        "randomisation_probability=0.9",
        "--actor",
        "clinician:c-18",
        "--reason",
        "typo",
    )
    assert too_random.returncode == 2 and "randomisation_probability=0.9" in too_random.stderr

    current = json.loads(run_vagus("--config", config, "policy", "show", PATIENT).stdout)
    assert current["policy"]["modalities"] == ["paced_breathing", "vibroacoustic"]
    assert current["version"] == 3
    assert current["policy"]["cooldown_s"] == 3600.0 and current["policy"]["intensity"] == 0.3
    trail = json.loads(run_vagus("--config", config, "policy", "history", PATIENT).stdout)
    assert [v["version"] for v in trail["versions"]] == [1, 2, 3]
    assert trail["refused"] == []  # the refused sets above published nothing
    assert [(a["actor"], a["old"], a["new"]) for a in trail["audit"]] == [
        (
            "clinician:c-17",
            {"cooldown_s": "1800.0", "quiet_hours_start": "22"},
            {"cooldown_s": "3600.0", "quiet_hours_start": "21"},
        ),
        ("clinician:c-18", {"intensity": "0.5"}, {"intensity": "0.3"}),
        (
            "clinician:c-18",
            {"modalities": "('paced_breathing',)", "randomisation_probability": "0.0"},
            {
                "modalities": "('paced_breathing', 'vibroacoustic')",
                "randomisation_probability": "0.2",
            },
        ),
    ]
    assert trail["audit"][0]["reason"] == "sessions felt too frequent"
