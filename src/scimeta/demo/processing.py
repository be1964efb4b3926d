"""What processing derives from a recorded session: the alignment of audio with motion
capture, and the movement cycles cut from the aligned signals."""

from __future__ import annotations

import random
from dataclasses import dataclass

from scimeta.models import Maneuver

SYNC_METHODS = ("rms_energy", "onset_detection", "cross_correlation")
# Seconds a single cycle of each maneuver takes.
_CYCLE_SECONDS = {
    Maneuver.WALK: (1.0, 1.3),
    Maneuver.SIT_TO_STAND: (2.5, 4.0),
    Maneuver.FLEXION_EXTENSION: (1.8, 3.0),
}
# Methods may disagree by this much before a synchronisation fails quality control.
_TOLERANCE_SECONDS = 0.1


def synchronization_fields(rng: random.Random, qc_passed: bool) -> dict[str, object]:
    """Sync times found by each method (the stomp that starts every maneuver) and the
    consensus among them; a failed synchronisation has methods that disagree."""
    audio_seconds = rng.uniform(2.0, 8.0)
    biomechanics_seconds = rng.uniform(0.2, 2.5)
    spread = rng.uniform(0.005, 0.08) if qc_passed else rng.uniform(0.12, 0.6)
    estimates = {
        method: round(audio_seconds + rng.uniform(-spread / 2, spread / 2), 4)
        for method in SYNC_METHODS
    }
    chosen = rng.choice(("consensus", "consensus", *SYNC_METHODS))
    audio_sync = (
        sum(estimates.values()) / len(estimates) if chosen == "consensus" else estimates[chosen]
    )
    agreement = max(estimates.values()) - min(estimates.values())
    return {
        "audio_sync_seconds": round(audio_sync, 4),
        "biomechanics_sync_seconds": round(biomechanics_seconds, 4),
        "offset_seconds": round(audio_sync - biomechanics_seconds, 4),
        "method": chosen,
        "consensus": {
            "estimates": estimates,
            "spread_seconds": round(agreement, 4),
            "tolerance_seconds": _TOLERANCE_SECONDS,
        },
        "qc_passed": qc_passed,
        "qc_notes": None
        if qc_passed
        else f"sync methods disagree by {agreement:.3f} s (tolerance {_TOLERANCE_SECONDS} s)",
    }


@dataclass(frozen=True)
class Cycle:
    start_seconds: float
    end_seconds: float
    qc_passed: bool
    acoustic_energy: float

    @property
    def duration(self) -> float:
        return self.end_seconds - self.start_seconds


def movement_cycles(rng: random.Random, maneuver: Maneuver) -> list[Cycle]:
    """Five to ten consecutive cycles, each with its own quality verdict."""
    cycles = []
    start = rng.uniform(0.5, 2.0)
    for _ in range(rng.randint(5, 10)):
        end = start + rng.uniform(*_CYCLE_SECONDS[maneuver])
        cycles.append(
            Cycle(
                start_seconds=round(start, 3),
                end_seconds=round(end, 3),
                qc_passed=rng.random() < 0.88,
                acoustic_energy=round(rng.lognormvariate(1.0, 0.6), 4),
            )
        )
        start = end + rng.uniform(0.0, 0.3)
    return cycles
