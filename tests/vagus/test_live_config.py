"""The [live] section and [[devices]]: what a patient wears, refused clearly when impossible."""

from __future__ import annotations

from pathlib import Path

import pytest

from vagus.config import ConfigError, load_config
from vagus.live import configured_targets


def _load(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vagus.toml"
    path.write_text(text)
    return path


def test_devices_and_live_sections_load(tmp_path: Path) -> None:
    config = load_config(
        _load(
            tmp_path,
            """
[live]
patient_id = "p-7k3m9q2x4v8w"
state_dir = "/var/lib/vagus"
reconnect_cap_s = 120

[[devices]]
profile = "polar-h10"
address = "a0:9e:1a:00:11:22"
label = "chest strap"

[[devices]]
profile = "sample-stream:vagus-eda-v1"
name_prefix = "vEDA"
""",
        )
    )
    targets = configured_targets(config)
    assert [(t.profile, t.address, t.name_prefix) for t in targets] == [
        ("polar-h10", "a0:9e:1a:00:11:22", None),
        ("sample-stream:vagus-eda-v1", None, "vEDA"),
    ]
    assert config.live.reconnect_cap_s == 120


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[[devices]]\nprofile = 'polar-h10'\n", "exactly one of address and name_prefix"),
        (
            "[[devices]]\nprofile = 'polar-h10'\naddress = 'A0:9E:1A:00:11:22'\n"
            "name_prefix = 'P'\n",
            "exactly one of address and name_prefix",
        ),
        ("[[devices]]\nprofile = 'polar-h10'\naddress = 'strap-1'\n", "AA:BB:CC:DD:EE:FF"),
        ("[[devices]]\nprofile = 'garmin'\nname_prefix = 'G'\n", "unknown device profile 'garmin'"),
        (
            "[[devices]]\nprofile = 'heart-rate'\nname_prefix = 'H'\nlabel = 'A0:9E:1A:00:11:22'\n",
            "must not hold an address",
        ),
        ("[[devices]]\nprofile = 'heart-rate'\nname_prefix = 'H'\ncolour = 'red'\n", "colour"),
        ("[live]\npatient_id = 'Jane Doe'\n", "patient_id must be a pseudonym"),
        ("[live]\nbackend = 'bluetooth'\n", "backend"),
        ("[live]\nreconnect_cap_s = 0\n", "reconnect_cap_s"),
    ],
)
def test_impossible_devices_are_refused(tmp_path: Path, text: str, fragment: str) -> None:
    path = _load(tmp_path, text)
    with pytest.raises(ConfigError, match=fragment) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_the_same_device_twice_is_refused(tmp_path: Path) -> None:
    twice = "[[devices]]\nprofile = 'heart-rate'\naddress = 'A0:9E:1A:00:11:22'\n"
    config = load_config(_load(tmp_path, twice + twice.replace("A0:9E", "a0:9e")))
    with pytest.raises(ConfigError, match="configured twice"):
        configured_targets(config)
