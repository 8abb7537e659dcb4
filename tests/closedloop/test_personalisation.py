"""Thompson sampling over modalities and micro-randomisation, deterministic under replay."""

from __future__ import annotations

import random

import msgspec

from closedloop.decision import PatientLoopState, record_evaluation, step
from closedloop.personalisation import ModalityBandit, decision_rng, helped
from closedloop.policy import DEFAULT_POLICY, with_changes
from tests.closedloop.test_decision import NOON, S, episode

ANY_HOUR = {"quiet_hours_start": None, "quiet_hours_end": None}


def test_helped_reads_the_stress_score_then_rmssd() -> None:
    assert helped({"stress_score_change": -0.2, "rmssd_ms_change": -5.0}) is True
    assert helped({"rmssd_ms_change": 4.0}) is True
    assert helped({"rmssd_ms_change": -4.0}) is False
    assert helped({}) is None


def test_thompson_sampling_prefers_what_helped_this_patient() -> None:
    bandit = ModalityBandit()
    for _ in range(12):
        bandit.record("vibroacoustic", True)
        bandit.record("paced_breathing", False)
    picks = [
        bandit.choose(("paced_breathing", "vibroacoustic"), random.Random(seed))[0]
        for seed in range(400)
    ]
    share = picks.count("vibroacoustic") / len(picks)
    assert share > 0.95
    fresh = ModalityBandit()  # no evidence: both get tried
    picks = [
        fresh.choose(("paced_breathing", "vibroacoustic"), random.Random(s))[0] for s in range(400)
    ]
    assert 0.35 < picks.count("vibroacoustic") / len(picks) < 0.65


def test_evaluations_steer_the_loop_and_draws_are_logged() -> None:
    policy = with_changes(
        DEFAULT_POLICY,
        {
            "modalities": ("paced_breathing", "vibroacoustic"),
            "cooldown_s": 600.0,
            "max_sessions_per_day": 8,
            **ANY_HOUR,
        },
    )
    state = PatientLoopState(policy=policy)
    for _ in range(15):
        record_evaluation(state, "vibroacoustic", {"stress_score_change": -0.3})
        record_evaluation(state, "paced_breathing", {"stress_score_change": 0.1})
    chosen = []
    for i in range(6):
        result = step(state, episode(NOON - 8 * 3600 * S + i * 3600 * S), producer_id="t")
        assert result.command is not None
        chosen.append(result.command.modality)
        assert "thompson_vibroacoustic" in result.command.reason.values
        state.busy_until_ns = 0
    assert chosen.count("vibroacoustic") >= 5


def test_micro_randomisation_is_logged_uncounted_and_replayable() -> None:
    policy = with_changes(
        DEFAULT_POLICY,
        {
            "randomisation_probability": 0.5,
            "cooldown_s": 600.0,
            "max_sessions_per_day": 8,
            **ANY_HOUR,
        },
    )
    episodes = [
        msgspec.structs.replace(
            episode(NOON - 10 * 3600 * S + i * 700 * S), event_id=f"episode-start-{i:04d}"
        )
        for i in range(40)
    ]

    def run() -> list[str]:
        state = PatientLoopState(policy=policy)
        outcomes = []
        for start in episodes:
            result = step(state, start, producer_id="t")
            assert result.decision is not None
            outcomes.append("session" if result.command else result.decision.hold_reason)
            state.busy_until_ns = 0
        return outcomes

    first = run()
    assert first == run()  # the same events decide the same way
    randomised = [o for o in first if o.startswith("micro-randomised")]
    sessions = first.count("session")
    assert sessions == 8  # randomised moments do not use up the daily cap...
    assert 0.2 < len(randomised) / (sessions + len(randomised)) < 0.8  # ...about p of the moments


def test_the_rng_depends_only_on_the_event() -> None:
    assert decision_rng("abc").random() == decision_rng("abc").random()
    assert decision_rng("abc").random() != decision_rng("abd").random()
