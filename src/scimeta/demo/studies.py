"""Acoustic-emission studies and their participants."""

from __future__ import annotations

from datetime import timedelta

from scimeta.demo.context import DemoLoad
from scimeta.demo.determinism import BASE_TIME, rng_for
from scimeta.demo.recordings import ParticipantVisit, load_recordings
from scimeta.models import Participant, Study

_COHORTS = ("AOA", "preOA", "SMoCK")
FIRST_PARTICIPANT_NUMBER = 1011


def study_count(scale: int) -> int:
    return 2 + scale // 10


def participant_count(scale: int) -> int:
    return max(3, scale)


def _study_row(index: int) -> dict[str, object]:
    cohort, wave = _COHORTS[index % len(_COHORTS)], index // len(_COHORTS) + 1
    name = cohort if wave == 1 else f"{cohort}-{wave}"
    return {
        "name": name,
        "title": f"{name} knee acoustic-emission study" + (f", wave {wave}" if wave > 1 else ""),
        "description": (
            "Four-microphone acoustic emissions of walking, sit-to-stand and "
            "flexion-extension maneuvers, synchronised with motion capture."
        ),
        "attributes": {"cohort": cohort, "wave": wave},
    }


async def load_studies(demo: DemoLoad) -> None:
    """Studies that do not exist yet, each with its participants and their recordings."""
    study_rows = [_study_row(index) for index in range(study_count(demo.scale))]
    new_study_ids = await demo.writer.insert_new(Study, study_rows, key="name")
    new_studies = [
        (index, row) for index, row in enumerate(study_rows) if row["name"] in new_study_ids
    ]
    participants = participant_count(demo.scale)
    participant_ids = iter(
        await demo.writer.allocate_ids(Participant, participants * len(new_studies))
    )
    participant_rows: list[dict[str, object]] = []
    visits: list[ParticipantVisit] = []
    for study_index, study_row in new_studies:
        for position in range(participants):
            rng = rng_for(f"participant/{study_row['name']}", position)
            participant_id = next(participant_ids)
            number = FIRST_PARTICIPANT_NUMBER + position
            participant_rows.append(
                {
                    "id": participant_id,
                    "study_id": new_study_ids[study_row["name"]],
                    "number": number,
                    "attributes": {
                        "age": rng.randint(35, 78),
                        "sex": rng.choice(("F", "M")),
                        "bmi": round(rng.uniform(19.0, 34.0), 1),
                        # Kellgren-Lawrence radiographic grade of knee osteoarthritis.
                        "kl_grade": rng.randint(0, 4),
                    },
                }
            )
            visit_at = BASE_TIME + timedelta(
                days=2 * position + study_index, hours=rng.randint(0, 7)
            )
            visits.append(
                ParticipantVisit(
                    participant_id=participant_id,
                    study_name=str(study_row["name"]),
                    number=number,
                    visited_at=visit_at,
                    rng=rng,
                )
            )
    await demo.writer.copy(Participant, participant_rows)
    await load_recordings(demo, visits)
