"""The columns of the acoustic-emission processing logs and the words in their cells.

`ManeuverProcessingLog.save_to_excel` has written the same record fields under two kinds
of header over the years: the fields' own names (`study_id`, `mic_1_position`) and the
labels of the records' `to_dict` (`Study ID`, `Mic 1 Position`, `Start (s)`). Both are
known here; a header is matched after `normalized` drops case, spaces, underscores,
hyphens and a trailing unit in parentheses.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from scimeta.models import Knee, Maneuver

MICROPHONES = 4

_UNIT = re.compile(r"\([^)]*\)")
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


class RowError(ValueError):
    """A cell the unified model cannot take; the message says which and why."""


def normalized(header: str) -> str:
    """`Start (s)`, `start`, `START` -> `start`; `Mic 1 Position`, `mic_1_position` ->
    `mic1position`."""
    return _NOT_ALNUM.sub("", _UNIT.sub("", header).lower())


def snake(header: str) -> str:
    """A header the importer does not know, as an attributes key: `Audio QC Version` ->
    `audio_qc_version`."""
    return _NOT_ALNUM.sub("_", _UNIT.sub("", header).lower()).strip("_") or header


# The audio record's own fields, which the synchronization and cycle rows of the log
# repeat: kept on the audio recording only.
AUDIO_FIELDS = frozenset(
    {
        "audio_file_name",
        "audio_pkl_file",
        "device_serial",
        "firmware_version",
        "file_time",
        "file_size_mb",
        "recording_date",
        "recording_time",
        "num_channels",
        "sample_rate",
        "linked_biomechanics",
        "qc_not_passed",
        "qc_fail_segments",
        "qc_signal_dropout",
        "qc_signal_dropout_segments",
        "qc_artifact",
        "qc_artifact_type",
        "qc_artifact_segments",
        "audio_qc_version",
        "notes",
        *(
            f"{prefix}{n}{suffix}"
            for n in range(1, MICROPHONES + 1)
            for prefix, suffix in (
                ("mic_", "_position"),
                ("mic_", "_notes"),
                ("qc_not_passed_mic_", ""),
                ("qc_fail_segments_ch", ""),
                ("qc_signal_dropout_ch", ""),
                ("qc_signal_dropout_segments_ch", ""),
                ("qc_artifact_ch", ""),
                ("qc_artifact_type_ch", ""),
                ("qc_artifact_segments_ch", ""),
                ("ch", "_rms"),
                ("ch", "_peak"),
            )
        ),
    }
)
# The synchronization record's fields, repeated by the cycle rows.
SYNC_FIELDS = frozenset(
    {
        "audio_sync_time",
        "sync_offset",
        "aligned_audio_sync_time",
        "aligned_biomechanics_sync_time",
        "bio_left_sync_time",
        "bio_right_sync_time",
        "sync_method",
        "consensus_methods",
        "consensus_time",
        "rms_time",
        "onset_time",
        "freq_time",
        "selected_audio_sync_time",
        "contra_selected_audio_sync_time",
        "audio_visual_sync_time",
        "audio_visual_sync_time_contralateral",
        "audio_stomp_method",
        "biomechanics_file",
        "biomechanics_type",
        "biomechanics_sync_method",
        "biomechanics_sample_rate",
        "biomechanics_notes",
    }
)


def _fields() -> dict[str, tuple[str, ...]]:
    """Each field the importer maps, with the other headers it has been written under."""
    fields: dict[str, tuple[str, ...]] = {
        "study": ("study name",),
        "study_id": ("participant", "participant number", "participant id"),
        "knee": ("knee side", "side"),
        "maneuver": ("manoeuvre",),
        "pass_number": ("pass",),
        "speed": (),
        "record_type": (),
        # audio
        "audio_file_name": ("audio file",),
        "audio_pkl_file": ("pickle file", "pkl file", "pkl file path", "audio pkl file path"),
        "device_serial": (),
        "firmware_version": (),
        "file_time": (),
        "recording_date": (),
        "recording_time": (),
        "num_channels": ("channels",),
        "duration_seconds": ("duration",),
        "qc_not_passed": (),
        "qc_fail_segments": ("audio qc fail segments",),
        # biomechanics
        "biomechanics_file": (),
        # synchronization
        "sync_file_name": ("sync file",),
        "sync_file_path": (),
        "audio_sync_time": (),
        "sync_offset": (),
        "aligned_biomechanics_sync_time": (),
        "bio_left_sync_time": (),
        "bio_right_sync_time": (),
        "sync_method": (),
        "consensus_methods": (),
        "consensus_time": (),
        "rms_time": (),
        "onset_time": (),
        "freq_time": (),
        "method_agreement_span": (),
        "sync_qc_fail": (),
        "sync_qc_passed": (),
        # movement cycles
        "cycle_index": (),
        "start_time_s": ("start",),
        "end_time_s": ("end",),
        "is_outlier": (),
        "biomechanics_qc_fail": (),
        "cycle_file": ("cycle file path",),
        "total_cycles_extracted": (),
    }
    for n in range(1, MICROPHONES + 1):
        fields[f"mic_{n}_position"] = ()
        fields[f"qc_not_passed_mic_{n}"] = ()
        fields[f"qc_fail_segments_ch{n}"] = (f"audio qc fail segments ch{n}",)
        fields[f"qc_signal_dropout_ch{n}"] = (f"audio signal dropout ch{n}",)
        fields[f"qc_signal_dropout_segments_ch{n}"] = (f"audio signal dropout segments ch{n}",)
        fields[f"qc_artifact_ch{n}"] = (f"audio artifact ch{n}",)
        fields[f"qc_artifact_type_ch{n}"] = (f"audio artifact type ch{n}",)
    # the records' other fields, kept in attributes under their names; the log labels
    # the audio QC fields "Audio ..." (qc_artifact_ch1: "Audio Artifact Ch1")
    for name in sorted(AUDIO_FIELDS | SYNC_FIELDS):
        aliases = ("audio " + name[3:],) if name.startswith("qc_") else ()
        fields.setdefault(name, aliases)
    fields["file_size_mb"] = ("file size",)
    return fields


FIELDS = _fields()
_BY_HEADER = {
    normalized(header): name for name, aliases in FIELDS.items() for header in (name, *aliases)
}


def field_of(header: str) -> str | None:
    return _BY_HEADER.get(normalized(header))


_KNEES = {
    "left": Knee.LEFT,
    "l": Knee.LEFT,
    "leftknee": Knee.LEFT,
    "right": Knee.RIGHT,
    "r": Knee.RIGHT,
    "rightknee": Knee.RIGHT,
}
_MANEUVERS = {
    "walk": Maneuver.WALK,
    "walking": Maneuver.WALK,
    "sts": Maneuver.SIT_TO_STAND,
    "sittostand": Maneuver.SIT_TO_STAND,
    "sitstand": Maneuver.SIT_TO_STAND,
    "fe": Maneuver.FLEXION_EXTENSION,
    "flexionextension": Maneuver.FLEXION_EXTENSION,
    "flexext": Maneuver.FLEXION_EXTENSION,
}
_TRUE = {"true", "yes", "y", "1", "pass", "passed"}
_FALSE = {"false", "no", "n", "0", "fail", "failed"}
_PARTICIPANT = re.compile(r"#?([A-Za-z][A-Za-z-]*?)?(\d+)")


def is_empty(value: Any) -> bool:
    """An empty cell, or what pandas writes for a missing value."""
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return value.strip().lower() in {"", "nan", "nat", "none"}
    return False


def text(value: Any, name: str, limit: int | None = None) -> str | None:
    if is_empty(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    found = str(value).strip()
    if limit is not None and len(found) > limit:
        raise RowError(f"{name} {found[:40]!r}... is longer than {limit} characters.")
    return found


def integer(value: Any, name: str) -> int | None:
    if is_empty(value):
        return None
    if isinstance(value, bool):
        raise RowError(f"{name} must be a whole number, not {value}.")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = math.nan
        if number.is_integer():
            return int(number)
    raise RowError(f"{name} must be a whole number, not {value!r}.")


def number(value: Any, name: str) -> float | None:
    if is_empty(value):
        return None
    if isinstance(value, bool):
        raise RowError(f"{name} must be a number, not {value}.")
    try:
        found = float(value)
    except (TypeError, ValueError):
        raise RowError(f"{name} must be a number, not {value!r}.") from None
    if not math.isfinite(found):
        raise RowError(f"{name} must be a finite number, not {value!r}.")
    return found


def boolean(value: Any, name: str) -> bool | None:
    if is_empty(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    word = str(value).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise RowError(f"{name} must be TRUE or FALSE, not {value!r}.")


def moment(value: Any, name: str) -> datetime | None:
    """A time; the logs write local times without a zone, which are taken as UTC."""
    if is_empty(value):
        return None
    if isinstance(value, datetime):
        found = value
    elif isinstance(value, date):
        found = datetime(value.year, value.month, value.day)
    else:
        try:
            found = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise RowError(f"{name} must be a date and time, not {value!r}.") from None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def knee(value: Any) -> Knee:
    if is_empty(value):
        raise RowError("The row names no knee (left or right).")
    found = _KNEES.get(normalized(str(value)))
    if found is None:
        raise RowError(f"knee {value!r} is neither left nor right.")
    return found


def maneuver(value: Any) -> Maneuver:
    if is_empty(value):
        raise RowError("The row names no maneuver (walk, sts or fe).")
    found = _MANEUVERS.get(normalized(str(value)))
    if found is None:
        raise RowError(
            f"maneuver {value!r} is not one the model knows: walk, sts (sit to stand) "
            "or fe (flexion-extension)."
        )
    return found


def participant(value: Any, study: str | None) -> tuple[str | None, int]:
    """The study (when the id names one, as `AOA1011` or `#AOA1011` do) and the
    participant's number."""
    if is_empty(value):
        raise RowError("The row names no participant (study_id).")
    if isinstance(value, int | float) and not isinstance(value, bool):
        found = integer(value, "study_id")
        prefix = None
    else:
        match = _PARTICIPANT.fullmatch(str(value).strip())
        if match is None:
            raise RowError(f"study_id {value!r} is not a participant number (such as 1011).")
        prefix, found = match.group(1), int(match.group(2))
    if prefix is not None and study is not None and prefix.lower() != study.lower():
        raise RowError(f"study_id {value!r} names study {prefix}, but the row is of {study}.")
    assert found is not None
    if found < 0:
        raise RowError(f"study_id must be 0 or more, not {found}.")
    return (study or prefix), found


def segments(value: Any, name: str) -> list[list[float]] | None:
    """Pairs of [start, end] seconds, as the log writes them: `[(1.0, 2.5), (4.0, 4.2)]`."""
    if is_empty(value):
        return None
    found = value
    if isinstance(value, str):
        try:
            found = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            raise RowError(f"{name} {value!r} is not a list of (start, end) pairs.") from None
    if not isinstance(found, list | tuple):
        raise RowError(f"{name} {value!r} is not a list of (start, end) pairs.")
    pairs = []
    for pair in found:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise RowError(f"{name} holds {pair!r}, which is not a (start, end) pair.")
        start, end = (number(item, name) for item in pair)
        if start is None or end is None or start > end:
            raise RowError(f"{name} holds {pair!r}: a segment must start before it ends.")
        pairs.append([start, end])
    return pairs


def words(value: Any) -> list[str]:
    """An artifact type cell: one word, or several as a list or separated by commas."""
    if is_empty(value):
        return []
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            listed = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            listed = None
        if isinstance(listed, list):
            return [str(item).strip() for item in listed if not is_empty(item)]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def json_cell(value: Any) -> Any:
    """A cell as a JSON value, for attributes."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def first(values: Iterable[Any]) -> Any:
    for value in values:
        if not is_empty(value):
            return value
    return None
