"""What gateway signatures cost per event: sign and verify against encode and decode.

For a typical stress_score and a raw notification batch (an H10 ECG minute's worth of frames
would be several; one batch holds 20 frames here), each step is timed in the same run on the
same event, best of several repeats, so the ratios do not depend on the machine's speed or load
on another day. "sign" is the HMAC and the suffix on already-encoded bytes (the gateway pays it
on top of encode_event); "verify (registry)" is what the worker's gate adds per record: cut the
suffix, look at the registry file's identity, find the key, compare the MAC.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ingest.devices.polar_h10 import PolarH10Device
from stream.codec import decode_event, encode_event
from stream.enrolment import GatewayRegistry, issue_key
from stream.events import Event, RawNotification, RawNotificationBatch, StressScore
from stream.ids import new_event_id
from stream.signing import sign, verify

PATIENT = "p-0123456789ab"
T0 = 1_767_225_600_000_000_000


def stress_score() -> StressScore:
    return StressScore(
        patient_id=PATIENT,
        producer_id="vagus-gateway",
        gateway_time_ns=T0,
        device_time_ns=T0 - 12_345,
        window_id=new_event_id(),
        window_end_ns=T0,
        score=0.734,
        method="model:mlp-v3",
        quality="ok",
        components={
            "z_rmssd_ms": -1.82,
            "z_heart_rate_bpm": 2.41,
            "z_scl_us": 1.07,
            "z_scr_rate_per_min": 0.66,
            "z_sdnn_ms": -1.2,
            "z_activity_enmo_g": 0.1,
        },
        threshold=0.62,
    )


def raw_batch(frames: int = 20) -> RawNotificationBatch:
    payload = bytes(range(229))  # an H10 ECG notification's size
    return RawNotificationBatch(
        patient_id=PATIENT,
        producer_id="vagus-gateway",
        gateway_time_ns=T0,
        device_id="d-0123abcd",
        profile=PolarH10Device.name,
        characteristic="pmd-data",
        notifications=[
            RawNotification(T0 + i * 1_000_000, T0 + i * 1_000_000 - 7, payload)
            for i in range(frames)
        ],
    )


def per_call_us(call: Callable[[], object], count: int, repeats: int) -> float:
    """Best of ``repeats`` loops of ``count`` calls, in microseconds per call."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(count):
            call()
        best = min(best, time.perf_counter() - start)
    return best / count * 1e6


def measure(event: Event, registry: GatewayRegistry, count: int, repeats: int) -> dict[str, float]:
    (key,) = [entry.gateway_key() for entry in registry.entries()]
    encoded = encode_event(event)
    signed = sign(encoded, key)
    registry.verify(signed, PATIENT)  # once, so the timed loops measure no first-read
    encode_us = per_call_us(lambda: encode_event(event), count, repeats)
    decode_us = per_call_us(lambda: decode_event(signed), count, repeats)
    sign_us = per_call_us(lambda: sign(encoded, key), count, repeats)
    verify_key_us = per_call_us(lambda: verify(signed, key), count, repeats)
    verify_us = per_call_us(lambda: registry.verify(signed, PATIENT), count, repeats)
    return {
        "bytes": len(encoded),
        "signature_bytes": len(signed) - len(encoded),
        "encode_us": encode_us,
        "decode_us": decode_us,
        "sign_us": sign_us,
        "verify_key_us": verify_key_us,
        "verify_registry_us": verify_us,
        "sign_over_encode": sign_us / encode_us,
        "verify_over_decode": verify_us / decode_us,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="calls per timed loop")
    parser.add_argument("--repeats", type=int, default=5, help="loops; the best one counts")
    parser.add_argument("--json", action="store_true", help="last line: one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "enrolment.json"
        issue_key(path, PATIENT)
        registry = GatewayRegistry(path)
        results = {
            name: measure(event, registry, args.events, args.repeats)
            for name, event in (("stress_score", stress_score()), ("raw_batch", raw_batch()))
        }
    for name, r in results.items():
        print(f"{name}: {r['bytes']:.0f} bytes encoded, +{r['signature_bytes']:.0f} signed")
        print(f"  encode_event       {r['encode_us']:7.2f} us")
        print(f"  sign (HMAC+suffix) {r['sign_us']:7.2f} us  ({r['sign_over_encode']:.2f}x encode)")
        print(f"  decode_event       {r['decode_us']:7.2f} us")
        print(f"  verify (one key)   {r['verify_key_us']:7.2f} us")
        print(
            f"  verify (registry)  {r['verify_registry_us']:7.2f} us"
            f"  ({r['verify_over_decode']:.2f}x decode)"
        )
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
