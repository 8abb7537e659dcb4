"""Reconnection delays: exponential, capped, with full jitter, and never giving up.

A strap that leaves range at night must come back whenever it reappears, so there is no attempt
limit; the cap bounds how long a returning strap waits, and jitter keeps several devices (or
several gateways on one radio) from retrying in lockstep.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """``next_delay()`` is uniform in [base * factor**n / 2, base * factor**n], capped at ``cap_s``.

    Half of the nominal delay is kept (equal jitter) so a retry never fires immediately after a
    failure; ``reset()`` after a connection that delivered data starts again from ``base_s``.
    """

    base_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.base_s <= self.cap_s:
            raise ValueError("backoff needs 0 < base_s <= cap_s")
        if self.factor < 1:
            raise ValueError("backoff factor must be at least 1")

    def nominal(self, attempt: int) -> float:
        """The upper bound for ``attempt`` (0-based) before jitter."""
        # Exponent bounded so a gateway up for months never overflows a float.
        return min(self.cap_s, self.base_s * self.factor ** min(attempt, 64))

    def next_delay(self) -> float:
        ceiling = self.nominal(self.attempt)
        self.attempt += 1
        return self.rng.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0
