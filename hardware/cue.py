"""The breathing cue as a level over time, applied to a device at a fixed update rate.

Lights and haptic bands differ only in what they do with the level; the timing, the fades and
the cap are the same, so they live here once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import numpy as np

from hardware.clock import Clock
from hardware.devices import SessionReport
from hardware.waveforms import BreathingPattern, breathing_envelope, session_ramp
from stream.events import SessionParameters


async def follow_cue(
    parameters: SessionParameters,
    clock: Clock,
    abort: asyncio.Event,
    *,
    max_intensity: float,
    update_hz: float,
    apply: Callable[[float], Awaitable[None]],
) -> SessionReport:
    """Call ``apply(level)`` ``update_hz`` times a second until the session ends or is aborted.

    The level rises over each inhale and falls over each exhale, fades in and out over the
    session, and never exceeds ``min(parameters.intensity, max_intensity)``.
    """
    pattern = BreathingPattern(parameters.breaths_per_min, parameters.inhale_fraction)
    cap = min(parameters.intensity, max_intensity)
    start_ns = clock.now_ns()
    elapsed_s = 0.0
    while elapsed_s < parameters.duration_s and not abort.is_set():
        t = np.array([elapsed_s])
        level = cap * breathing_envelope(pattern, t) * session_ramp(t, parameters.duration_s)
        await apply(float(np.clip(level[0], 0.0, cap)))
        elapsed_s += 1.0 / update_hz
        await clock.sleep_until(start_ns + int(elapsed_s * 1e9))
    ran_s = min(elapsed_s, parameters.duration_s)
    return SessionReport(
        ran_s=ran_s, breaths=int(ran_s // pattern.period_s), completed=not abort.is_set()
    )
