"""Choosing a modality from evidence, and micro-randomisation for causal estimates.

Thompson sampling: each modality keeps a Beta(1 + helped, 1 + did not help) belief from the
patient's own session evaluations; at each session the loop draws from every allowed modality's
belief and uses the best draw, so a modality that works for this patient is chosen more often
while the others still get tried. Micro-randomisation: with the policy's probability, an eligible
moment is randomised to "no session" and logged, which lets a clinician compare what happens
with and without a session for this patient.

Randomness is seeded from the triggering event's id, so a replay decides exactly as the live
stream did.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from stream.events import Modality


def decision_rng(event_id: str) -> random.Random:
    """A generator determined by the event that prompted the decision."""
    seed = int.from_bytes(hashlib.sha256(event_id.encode()).digest()[:8], "big")
    return random.Random(seed)


def helped(metrics: dict[str, float]) -> bool | None:
    """Did the session help? A lower stress score after than before, else a higher RMSSD."""
    if "stress_score_change" in metrics:
        return metrics["stress_score_change"] < 0
    if "rmssd_ms_change" in metrics:
        return metrics["rmssd_ms_change"] > 0
    return None


@dataclass
class ModalityBandit:
    """Per-modality counts of sessions that helped and that did not."""

    helped: dict[str, int] = field(default_factory=dict)
    not_helped: dict[str, int] = field(default_factory=dict)

    def record(self, modality: Modality, outcome: bool) -> None:
        counts = self.helped if outcome else self.not_helped
        counts[modality] = counts.get(modality, 0) + 1

    def choose(
        self, allowed: tuple[Modality, ...], rng: random.Random
    ) -> tuple[Modality, dict[str, float]]:
        """The modality with the best draw from its Beta belief, and every draw (for the log)."""
        draws = {
            modality: rng.betavariate(
                1 + self.helped.get(modality, 0), 1 + self.not_helped.get(modality, 0)
            )
            for modality in allowed
        }
        best = max(allowed, key=lambda modality: draws[modality])
        return best, {f"thompson_{m}": round(d, 4) for m, d in draws.items()}
