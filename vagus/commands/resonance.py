"""`vagus resonance`: a patient's resonance breathing pace from a recorded paced-breathing
protocol, published (when asked) as their policy's ``resonance_breaths_per_min``, audited."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from closedloop.policy import PolicyError
from vagus.commands.common import Handlers, readable_file, run_async, with_bootstrap
from vagus.config import ConfigError, VagusConfig
from vagus.resonance_assessment import Assessment, Schedule, assess


def register(commands: Any) -> Handlers:
    command = commands.add_parser(
        "resonance",
        help="resonance breathing pace from a protocol recording",
        description="Segments come from pace=<breaths/min> markers (and a final pace=end) or "
        "from --paces and --segment-s. With --apply the estimate becomes the patient's "
        "resonance_breaths_per_min through the audited policy path.",
    )
    command.add_argument("recording", type=Path, help="a vagus recording of the protocol")
    command.add_argument("--paces", help="paces in protocol order, e.g. 7,6.5,6,5.5,5,4.5")
    command.add_argument("--segment-s", type=float, help="length of each pace's segment")
    command.add_argument("--start-s", type=float, default=0.0, help="first segment's start")
    command.add_argument("--json", action="store_true", help="print the assessment as JSON")
    command.add_argument("--apply", metavar="PATIENT", help="publish the pace to this patient")
    command.add_argument("--actor", help="who applies it (e.g. clinician:c-17); with --apply")
    command.add_argument("--reason", default="", help="context for the audit trail")
    command.add_argument(
        "--min-confidence", type=float, default=0.5, help="refuse to apply below this"
    )
    command.add_argument(
        "--accept-range-edge",
        action="store_true",
        help="apply even when the winner is the slowest or fastest pace tested",
    )
    command.add_argument("--bootstrap", help="Kafka bootstrap address (default: config)")
    return {"resonance": cmd_resonance}


def _schedule(args: argparse.Namespace) -> Schedule | None:
    if args.paces is None and args.segment_s is None:
        return None
    if args.paces is None or args.segment_s is None:
        raise ConfigError("--paces and --segment-s go together")
    try:
        paces = tuple(float(p) for p in args.paces.split(",") if p.strip())
        return Schedule(paces, args.segment_s, args.start_s)
    except ValueError as exc:
        raise ConfigError(f"--paces/--segment-s/--start-s: {exc}") from exc


def describe(assessment: Assessment) -> dict[str, Any]:
    estimate = assessment.estimate

    def number(value: float) -> float | None:
        return None if math.isnan(value) else round(value, 4)

    return {
        "breaths_per_min": estimate.breaths_per_min,
        "confidence": round(estimate.confidence, 3),
        "at_range_edge": estimate.at_range_edge,
        "refused_because": estimate.reason,
        "beats_from": assessment.beat_source,
        "beats": assessment.beats,
        "decode_errors": assessment.decode_errors,
        "segments": [
            {
                "breaths_per_min": s.breaths_per_min,
                "duration_s": round(s.duration_s, 1),
                "artifact_share": round(s.artifact_share, 3),
                "lf_peak_hz": number(s.lf_peak_hz),
                "peak_to_trough_bpm": number(s.peak_to_trough_bpm),
                "score": round(s.score, 3),
                "unusable_because": s.problem,
            }
            for s in estimate.segments
        ],
    }


def _refusal(assessment: Assessment, args: argparse.Namespace) -> str | None:
    estimate = assessment.estimate
    if estimate.breaths_per_min is None:
        return f"no estimate: {estimate.reason}"
    if estimate.confidence < args.min_confidence:
        return f"confidence {estimate.confidence:.2f} is below --min-confidence"
    if estimate.at_range_edge and not args.accept_range_edge:
        return (
            f"{estimate.breaths_per_min:g}/min is the edge of the tested paces; test beyond it "
            "or pass --accept-range-edge"
        )
    return None


def cmd_resonance(args: argparse.Namespace, config: VagusConfig) -> int:
    assessment = assess(readable_file(args.recording), _schedule(args))
    shown = describe(assessment)
    if args.json:
        print(json.dumps(shown, indent=2))
    else:
        for segment in shown["segments"]:
            why = segment["unusable_because"] or f"score {segment['score']}"
            print(f"  {segment['breaths_per_min']:>5g}/min  {segment['duration_s']:>6}s  {why}")
        pace = shown["breaths_per_min"]
        print(
            f"resonance: {pace if pace is not None else 'none'} breaths/min, confidence "
            f"{shown['confidence']} (a heuristic, not a probability), beats from "
            f"{shown['beats_from']}"
        )
    if args.apply is None:
        return 0
    if not args.actor:
        raise ConfigError("--apply needs --actor (who makes the change)")
    refusal = _refusal(assessment, args)
    if refusal is not None:
        raise PolicyError(f"not applied: {refusal}")
    return _apply(args, config, assessment)


def _apply(args: argparse.Namespace, config: VagusConfig, assessment: Assessment) -> int:
    from closedloop import policy_store  # noqa: PLC0415

    kafka = with_bootstrap(config, args.bootstrap).kafka
    if kafka.bootstrap is None:
        raise ConfigError("--apply needs --bootstrap or kafka.bootstrap (a persistent Kafka)")
    estimate = assessment.estimate
    pace = estimate.breaths_per_min
    reason = (
        f"resonance assessment of {args.recording.name}: {pace:g}/min, confidence "
        f"{estimate.confidence:.2f}, beats from {assessment.beat_source}"
    ) + (f"; {args.reason}" if args.reason else "")

    async def go() -> int:
        version, _ = await policy_store.change(
            kafka,
            patient_id=args.apply,
            assignments=[f"resonance_breaths_per_min={pace}"],
            actor=args.actor,
            reason=reason,
            default=config.policy,
        )
        print(f"{args.apply}: policy v{version.version} paces breathing at {pace:g}/min")
        return 0

    return run_async(go)
