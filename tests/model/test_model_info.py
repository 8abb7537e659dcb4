"""`vagus model info`: the configured model and the accuracy its own sidecar states."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from vagus.cli import main
from vagus.config import StressModelSettings, VagusConfig
from vagus.scoring import bundled_model


@pytest.mark.parametrize(
    ("inputs", "baseline", "method"),
    [
        ("without_heart", "mean_sd", "stress-logistic-no-heart/2"),
        ("with_heart", "median_mad", "stress-logistic-robust/2"),
    ],
)
def test_info_describes_the_configured_model_from_its_sidecar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], inputs: str, baseline: str, method: str
) -> None:
    settings = StressModelSettings(inputs=inputs, baseline=baseline)  # type: ignore[arg-type]
    config = tmp_path / "config.json"
    config.write_bytes(msgspec.json.encode(VagusConfig(stress_model=settings)))
    assert main(["--config", str(config), "model", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    path = bundled_model(settings)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert (info["method"], info["file"]) == (method, path.name)
    assert info["features"] == [f["name"] for f in sidecar["features"]]
    assert info["nested_accuracy"]["value"] == sidecar["validation"]["accuracy"]
    assert info["nested_accuracy"]["interval"] == sidecar["validation"]["ci95"]["accuracy"]
    assert (info["threshold"], info["threshold_from"]) == (sidecar["threshold"], "model")
    assert main(["--config", str(config), "model", "info"]) == 0
    text = capsys.readouterr().out
    assert method in text and "95 % interval over subjects" in text and "not a diagnosis" in text
    stressed = sidecar["validation"]["stressor_in_calibration"]["macro_f1"]
    assert f"calibration: macro-F1 {stressed:.3f}" in text


def test_a_configured_threshold_is_shown_as_the_configurations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.json"
    config.write_bytes(
        msgspec.json.encode(VagusConfig(stress_model=StressModelSettings(threshold=0.7)))
    )
    assert main(["--config", str(config), "model", "info"]) == 0
    assert "threshold   0.70 (from the configuration)" in capsys.readouterr().out
