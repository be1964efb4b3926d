"""What a save of a recording carries, checked before anything is written: its key and
fields, its channels and movement cycles."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scimeta.errors import BadUserInput
from scimeta.models import Knee, Maneuver, RecordingKind
from scimeta.writes.columns import Names
from scimeta.writes.core import FileSpec

MAX_CHANNELS = 64

# The columns a save sets when they are given; the key columns find the row.
RECORDING_FIELDS = frozenset(
    {
        "speed",
        "recorded_at",
        "device_serial",
        "firmware_version",
        "num_channels",
        "qc_passed",
        "qc_fail_segments",
        "attributes",
    }
)
# The stored columns of a recording's parts, index first: what is compared and inserted.
CHANNEL_COLUMNS = ("index", "microphone_position", "qc_passed", "artifact_types", "signal_dropout")
CYCLE_COLUMNS = ("index", "start_seconds", "end_seconds", "qc_passed", "attributes")


@dataclass
class ChannelSpec:
    index: int
    microphone_position: str | None = None
    qc_passed: bool | None = None
    artifact_types: list[str] = field(default_factory=list)
    signal_dropout: float | None = None

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in CHANNEL_COLUMNS)


@dataclass
class CycleSpec:
    index: int
    start_seconds: float
    end_seconds: float
    qc_passed: bool | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in CYCLE_COLUMNS)


@dataclass
class CycleColumns:
    """Movement cycles as one list per column, reached without a Python object per cycle;
    `attributes` holds JSON objects or None (none). `names` says how errors name a value:
    as in the list of objects the client sent (`cycles[3].index`) or in its columns
    (`cycleColumns.index[3]`)."""

    index: Sequence[int]
    start_seconds: Sequence[float]
    end_seconds: Sequence[float]
    qc_passed: Sequence[bool | None]
    attributes: Sequence[Any]
    names: Names = field(default_factory=lambda: Names("cycles"))

    def __len__(self) -> int:
        return len(self.index)

    @classmethod
    def of(cls, cycles: Sequence[CycleSpec], names: Names | None = None) -> CycleColumns:
        return cls(
            index=[cycle.index for cycle in cycles],
            start_seconds=[cycle.start_seconds for cycle in cycles],
            end_seconds=[cycle.end_seconds for cycle in cycles],
            qc_passed=[cycle.qc_passed for cycle in cycles],
            attributes=[cycle.attributes for cycle in cycles],
            names=names or Names("cycles"),
        )

    def rows(self) -> list[tuple[Any, ...]]:
        """Each cycle's stored values in CYCLE_COLUMNS order (no attributes: {}), as tuples
        made at C speed, to compare with the stored rows."""
        attributes = [values or {} for values in self.attributes]
        return list(
            zip(
                self.index,
                self.start_seconds,
                self.end_seconds,
                self.qc_passed,
                attributes,
                strict=True,
            )
        )


@dataclass
class RecordingSpec:
    """A recording as a writer saves it, checked when made so that a bad one never reaches
    the database. `fields` holds the columns given (of RECORDING_FIELDS); on an existing
    recording the others keep their value. `file`, `channels` and `cycles`, when given,
    replace the recording's. numChannels defaults to the number of channels given."""

    participant_id: int
    kind: RecordingKind
    maneuver: Maneuver
    knee: Knee
    pass_number: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    file: FileSpec | None = None
    channels: list[ChannelSpec] | None = None
    cycles: CycleColumns | Sequence[CycleSpec] | None = None
    # `cycles` once checked, as columns
    cycle_columns: CycleColumns | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.fields = dict(self.fields)
        unknown = set(self.fields) - RECORDING_FIELDS
        if unknown:
            raise ValueError(f"Not fields of a recording: {sorted(unknown)}")
        self._check_walk_fields()
        if "qc_fail_segments" in self.fields:
            self.fields["qc_fail_segments"] = checked_segments(self.fields["qc_fail_segments"])
        num_channels: int | None = self.fields.get("num_channels")
        if num_channels is not None and num_channels <= 0:
            raise BadUserInput(
                f"numChannels must be 1 or more, not {num_channels}.", field="numChannels"
            )
        if self.channels is not None:
            if num_channels is None and self.channels:
                num_channels = self.fields["num_channels"] = len(self.channels)
            check_channels(self.channels, num_channels or 0)
        if self.cycles is not None:
            self.cycle_columns = check_cycles(self.cycles)

    def _check_walk_fields(self) -> None:
        if self.pass_number is not None and self.pass_number < 0:
            raise BadUserInput(
                f"passNumber must be 0 or more, not {self.pass_number}.", field="passNumber"
            )
        if self.maneuver == Maneuver.WALK:
            return
        for name, value in (("passNumber", self.pass_number), ("speed", self.fields.get("speed"))):
            if value is not None:
                raise BadUserInput(
                    f"{name} is only for WALK recordings; leave it out for a "
                    f"{self.maneuver.value} recording.",
                    field=name,
                )


def checked_segments(segments: Sequence[Sequence[float]] | None) -> list[list[float]]:
    for position, segment in enumerate(segments or []):
        if len(segment) != 2 or segment[0] > segment[1]:
            raise BadUserInput(
                f"qcFailSegments[{position}] must be a pair [start, end] with start <= end "
                f"(seconds), not {list(segment)}.",
                field="qcFailSegments",
            )
    return [list(segment) for segment in segments or []]


def check_channels(channels: Sequence[ChannelSpec], num_channels: int) -> None:
    unique_indexes(channels, "channels")
    for position, channel in enumerate(channels):
        where = f"channels[{position}]"
        if not 0 <= channel.index < num_channels:
            raise BadUserInput(
                f"{where}.index is {channel.index}, but a recording of {num_channels} "
                f"channels (numChannels) numbers them 0 to {num_channels - 1}.",
                field=where,
            )
        dropout = channel.signal_dropout
        if dropout is not None and not 0 <= dropout <= 1:
            raise BadUserInput(
                f"{where}.signalDropout is the fraction of samples lost, from 0 to 1, "
                f"not {dropout}.",
                field=where,
            )


def check_cycles(cycles: CycleColumns | Sequence[CycleSpec]) -> CycleColumns:
    """The cycles as columns, once each is one a recording can have: indexes unique and
    from 0, no end before its start, attributes a JSON object. The first offending cycle
    is refused (BAD_USER_INPUT), named as the client sent it; whole columns are checked
    first and only a column that fails is walked."""
    columns = cycles if isinstance(cycles, CycleColumns) else CycleColumns.of(cycles)
    names = columns.names
    index = columns.index
    if len(set(index)) != len(index):
        seen: set[int] = set()
        for position, cycle_index in enumerate(index):
            if cycle_index in seen:
                raise BadUserInput(
                    f"{names.value(position, 'index')} {cycle_index} is given twice; each "
                    "index once.",
                    field=names.field(position, "index"),
                )
            seen.add(cycle_index)
    starts, ends = columns.start_seconds, columns.end_seconds
    if index and (
        min(index) < 0 or any(end < start for start, end in zip(starts, ends, strict=True))
    ):
        for position, (cycle_index, start, end) in enumerate(zip(index, starts, ends, strict=True)):
            if cycle_index < 0:
                raise BadUserInput(
                    f"{names.value(position, 'index')} must be 0 or more.",
                    field=names.field(position, "index"),
                )
            if end < start:
                raise BadUserInput(
                    f"{names.row(position)} ends ({end} s) before it starts ({start} s).",
                    field=names.field(position, "endSeconds"),
                )
    for position, values in enumerate(columns.attributes):
        if values is not None and type(values) is not dict:
            raise BadUserInput(
                f"{names.value(position, 'attributes')} must be a JSON object ({{...}}), not "
                f"{type(values).__name__}.",
                field=names.value(position, "attributes"),
            )
    return columns


def unique_indexes(parts: Iterable[ChannelSpec | CycleSpec], name: str) -> None:
    seen: set[int] = set()
    for position, part in enumerate(parts):
        if part.index in seen:
            raise BadUserInput(
                f"{name}[{position}].index {part.index} is given twice; each index once.",
                field=f"{name}[{position}]",
            )
        seen.add(part.index)
