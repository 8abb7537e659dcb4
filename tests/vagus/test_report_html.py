"""`vagus report`: a self-contained HTML page from a recording or a run directory, and the run
directory's contract (owner-only files, one wire-JSON event per line, damage reported)."""

from __future__ import annotations

import base64
import io
import json
import re
import stat
import statistics
from pathlib import Path

import pytest
from matplotlib import image

from closedloop.evaluation import Evaluation, SessionEvaluator
from stream.events import (
    AnyEvent,
    DecisionReason,
    Features,
    FeatureWindow,
    InterventionCommand,
    InterventionOutcome,
    Modality,
    OutcomeStatus,
    PolicySnapshot,
    PolicyVersion,
    SessionParameters,
    SignalQuality,
    StressEpisode,
    StressScore,
)
from tests.helpers import PATIENT, run_vagus
from vagus.analysis import analyze_recording
from vagus.demo import DEFAULT_RECORDING
from vagus.reporting import DISCLAIMER, write_report
from vagus.reporting.data import SPANS, from_run, session_spans
from vagus.run_dir import EVENTS_FILE, SUMMARY_FILE, RunDirError, RunDirWriter, read_run

NS = 1_000_000_000
T0 = 1_773_000_000 * NS
HOP = 10 * NS
WINDOWS = 150  # 25 min of windows
DEVICE = "d-abcdefgh"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: (window table column, SessionEvaluation metric) of what the closed loop evaluates.
EVALUATED = (
    ("heart_rate_bpm", "heart_rate_bpm"),
    ("rmssd_ms", "rmssd_ms"),
    ("stress_probability", "stress_score"),
)


def _pngs(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def _assert_pictures(page: str, expected: int) -> None:
    assert page.count("<img") == expected
    pngs = _pngs(page)
    assert len(pngs) == expected
    for png in pngs:
        assert png.startswith(PNG_SIGNATURE)
        pixels = image.imread(io.BytesIO(png), format="png")
        assert pixels.shape[0] > 200 and pixels.shape[1] > 600  # a figure, not an empty stub


def _window_events(index: int) -> list[AnyEvent]:
    """Calm, a stress rise from window 40 to 80 (an episode), a calm-down after."""
    end = T0 + 60 * NS + index * HOP
    stressed = 40 <= index < 80
    window = FeatureWindow(
        patient_id=PATIENT,
        producer_id="test",
        gateway_time_ns=end,
        window_start_ns=end - 60 * NS,
        window_end_ns=end,
        features=Features(
            heart_rate_bpm=88.0 if stressed else 66.0 + (index % 7) * 0.5,
            rmssd_ms=18.0 if stressed else 45.0 - (index % 5),
            scr_rate_per_min=5.0 if stressed else 1.0,
            beats=70,
        ),
        coverage={"ecg": 1.0, "eda": 0.99},
    )
    calibrating = index < 30
    score = StressScore(
        patient_id=PATIENT,
        producer_id="test",
        gateway_time_ns=end,
        window_id=window.event_id,
        window_end_ns=end,
        score=None if calibrating else (0.95 if stressed else 0.1),
        method="stress-logistic/2",
        quality="calibrating" if calibrating else "ok",
        threshold=None if calibrating else 0.46,
    )
    events: list[AnyEvent] = [window, score]
    if index in (40, 80):
        events.append(
            StressEpisode(
                patient_id=PATIENT,
                producer_id="test",
                gateway_time_ns=end,
                episode_id="episode-0001",
                phase="start" if index == 40 else "end",
                started_at_ns=T0 + 60 * NS + 40 * HOP,
                score=0.95 if index == 40 else 0.1,
                trigger_window_id=window.event_id,
            )
        )
    if index == 0:
        events.append(
            SignalQuality(
                patient_id=PATIENT,
                producer_id="test",
                gateway_time_ns=end,
                device_id=DEVICE,
                stream="ecg",
                span_start_ns=end - 60 * NS,
                span_end_ns=end,
                coverage=1.0,
                kind="ok",
            )
        )
    return events


def _session(
    at_index: int, modality: Modality, steps: list[tuple[OutcomeStatus, int, str]]
) -> list[AnyEvent]:
    """A start command at a window's end and its outcomes ``(status, seconds later, detail)``."""
    at = T0 + 60 * NS + at_index * HOP
    command = InterventionCommand(
        patient_id=PATIENT,
        producer_id="closedloop",
        gateway_time_ns=at,
        action="start",
        modality=modality,
        parameters=SessionParameters(duration_s=300.0),
        reason=DecisionReason(
            rule="episode-score-over-threshold/1", trigger_event_id="trigger-0001", score=0.95
        ),
        policy_version=1,
        expires_at_ns=at + 60 * NS,
    )
    outcomes: list[AnyEvent] = [
        InterventionOutcome(
            patient_id=PATIENT,
            producer_id="gateway",
            gateway_time_ns=at + seconds * NS,
            command_id=command.event_id,
            status=status,
            modality=command.modality,
            detail=detail,
        )
        for status, seconds, detail in steps
    ]
    return [command, *outcomes]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run as the demo writes it: a policy, windows and scores, an episode, a completed, an
    aborted and a rejected session, and a summary."""
    path = tmp_path / "run"
    events: list[AnyEvent] = [
        PolicyVersion(
            patient_id=PATIENT,
            producer_id="closedloop",
            gateway_time_ns=T0,
            version=1,
            policy=PolicySnapshot(score_threshold=0.7),
            changed_by="clinician:test",
        )
    ]
    for index in range(WINDOWS):
        events += _window_events(index)
    ran: list[tuple[OutcomeStatus, int, str]] = [("requested", 0, ""), ("started", 0, "")]
    events += _session(42, "paced_breathing", [*ran, ("completed", 150, "")])
    events += _session(60, "vibroacoustic", [*ran, ("aborted", 90, "by patient:gpio-button")])
    events += _session(72, "paced_breathing", [ran[0], ("rejected", 0, "minimum gap of 900 s")])
    with RunDirWriter(path) as writer:
        for event in sorted(events, key=lambda e: e.gateway_time_ns):
            writer.write_event(event)
        writer.write_summary({"windows": WINDOWS, "events_lost": 0})
    return path


def test_a_run_directory_is_owner_only_and_one_event_per_line(run_dir: Path) -> None:
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    for name in (EVENTS_FILE, SUMMARY_FILE):
        assert stat.S_IMODE((run_dir / name).stat().st_mode) == 0o600
    lines = (run_dir / EVENTS_FILE).read_bytes().splitlines()
    assert all(json.loads(line)["type"] for line in lines)
    run = read_run(run_dir)
    assert len(run.events) == len(lines) and run.bad_lines == 0
    assert len(run.of(FeatureWindow)) == len(run.by_type["feature_window"]) == WINDOWS
    assert run.summary == {"windows": WINDOWS, "events_lost": 0}
    assert run.patient_id == PATIENT
    with pytest.raises(RunDirError, match="never overwritten"):
        RunDirWriter(run_dir)


def test_a_corrupt_line_is_reported_with_its_number(run_dir: Path) -> None:
    events = run_dir / EVENTS_FILE
    lines = events.read_bytes().splitlines(keepends=True)
    lines[10:10] = [b'{"type": "feature_window", "patient_id": \n', b"\xff\xfe not json\n"]
    events.write_bytes(b"".join(lines) + b'{"type": "stress_sc')  # and a torn last line
    run = read_run(run_dir)
    assert (run.bad_lines, run.first_bad_line) == (3, 11)
    assert len(run.events) == len(lines) - 2
    data = from_run(run_dir)
    assert any("3 line(s)" in p and "first at line 11" in p for p in data.problems)


def test_report_of_a_run_directory(run_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "report.html"
    result = write_report(run_dir, output)
    page = output.read_text(encoding="utf-8")
    assert output.stat().st_size == result.size_bytes > 20_000
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    _assert_pictures(page, 3)  # the timeline and the two sessions that ran (not the rejected)
    assert result.figures == 3 and result.sessions == 3
    assert DISCLAIMER in page
    assert PATIENT in page
    assert "aborted by patient:gpio-button" in page
    assert "rejected: minimum gap of 900 s" in page
    assert "policy threshold (v1)" in page
    data = from_run(run_dir)
    assert data.threshold.steps == [(T0, 0.7)]
    assert [(s.outcome, s.ran) for s in data.sessions] == [
        ("completed", True),
        ("aborted", True),
        ("rejected", False),
    ]
    assert [(e.start_ns, e.open) for e in data.episodes()] == [(T0 + 60 * NS + 40 * HOP, False)]
    assert result.timeline is not None
    low, high = result.timeline.x_range_ns
    first_start, last_end = T0, T0 + 60 * NS + (WINDOWS - 1) * HOP
    assert abs(low - first_start) < NS // 1000 and abs(high - last_end) < NS // 1000


def test_session_panels_show_the_closed_loops_own_evaluation(run_dir: Path) -> None:
    """The panel's spans and medians are the ones closedloop.evaluation reports."""
    evaluator = SessionEvaluator()
    evaluations: list[Evaluation] = []
    for event in read_run(run_dir).events:
        if isinstance(event, StressScore):
            evaluator.on_score(event)
        elif isinstance(event, InterventionOutcome):
            evaluator.on_outcome(event)
        elif isinstance(event, FeatureWindow):
            evaluations += evaluator.on_window(event)
    data = from_run(run_dir)
    ran = [s for s in data.sessions if s.ran]
    assert [e.command_id for e in evaluations] == [s.command_id for s in ran]
    for session, evaluation in zip(ran, evaluations, strict=True):
        spans = session_spans(data, session)
        for span in SPANS:
            assert evaluation.metrics[f"windows_{span}"] == len(spans[span]) > 0
            for column, metric in EVALUATED:
                values = [v for row in spans[span] if isinstance(v := row[column], float)]
                expected = statistics.median(values) if values else None
                assert evaluation.metrics.get(f"{metric}_{span}") == expected, (span, metric)


def test_report_of_the_bundled_recording(tmp_path: Path) -> None:
    output = tmp_path / "report.html"
    result = write_report(DEFAULT_RECORDING, output)
    page = output.read_text(encoding="utf-8")
    assert result.size_bytes > 20_000
    _assert_pictures(page, 1)  # a recording has no sessions: the timeline only
    assert "holds no closed-loop sessions" in page
    assert DISCLAIMER in page
    rows = analyze_recording(DEFAULT_RECORDING).rows
    assert result.windows == len(rows)
    first_start, last_end = rows[0]["window_start_ns"], rows[-1]["window_end_ns"]
    assert isinstance(first_start, int) and isinstance(last_end, int)
    assert result.timeline is not None
    low, high = result.timeline.x_range_ns
    assert low <= first_start + NS // 1000 and high >= last_end - NS // 1000
    assert high - low < 34 * 60 * NS  # ... and no blank margin beyond the data


def test_the_command_reports_a_damaged_run_and_still_writes(run_dir: Path, tmp_path: Path) -> None:
    with (run_dir / EVENTS_FILE).open("ab") as events:
        events.write(b"garbage\n")
    output = tmp_path / "report.html"
    result = run_vagus("report", str(run_dir), "-o", str(output), "--json")
    assert result.returncode == 0, result.stderr
    assert "1 line(s) of events.jsonl could not be read" in result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["figures"] == 3 and summary["bytes"] == output.stat().st_size
    assert "could not be read" in output.read_text(encoding="utf-8")


@pytest.mark.parametrize("kind", ["missing", "empty folder", "not a recording"])
def test_an_unusable_source_is_one_line_and_exit_2(tmp_path: Path, kind: str) -> None:
    source = tmp_path / "source"
    if kind == "empty folder":
        source.mkdir()
    elif kind == "not a recording":
        source.write_bytes(b"x" * 64)
    result = run_vagus("report", str(source), "-o", str(tmp_path / "report.html"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"vagus: {source}: ")
    assert not (tmp_path / "report.html").exists()
