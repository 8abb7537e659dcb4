"""Hysteresis that turns a noisy per-window score into episode starts and ends.

An episode starts after ``windows_on`` consecutive usable scores at or above ``on_threshold`` and
ends after ``windows_off`` consecutive usable scores below ``off_threshold``; the gap between the
two thresholds keeps a score hovering near one of them from flapping. Unusable windows (poor
signal, motion) neither start nor end an episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Transition(Enum):
    NONE = "none"
    START = "start"
    END = "end"


@dataclass
class EpisodeTracker:
    on_threshold: float = 0.7
    off_threshold: float = 0.4
    windows_on: int = 2
    windows_off: int = 3
    active: bool = False
    _run: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.off_threshold < self.on_threshold <= 1:
            raise ValueError("need 0 <= off_threshold < on_threshold <= 1")
        if self.windows_on < 1 or self.windows_off < 1:
            raise ValueError("windows_on and windows_off must be at least 1")

    def update(self, score: float | None) -> Transition:
        """Feed one window's score (``None`` when unusable); report a state change."""
        if score is None:
            return Transition.NONE
        crossing = score < self.off_threshold if self.active else score >= self.on_threshold
        self._run = self._run + 1 if crossing else 0
        needed = self.windows_off if self.active else self.windows_on
        if self._run < needed:
            return Transition.NONE
        self._run = 0
        self.active = not self.active
        return Transition.START if self.active else Transition.END
