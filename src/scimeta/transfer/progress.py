"""Progress of a long transfer, per table: a bar on a terminal, plain lines elsewhere.

Exports, imports and every importer of `scimeta import` report through `Progress`, so a
command shows the same thing whatever moves the rows, and a library caller or a test
passes `QuietProgress`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import IO, Any

# how often the plain reporter writes a line while a table is under way
PLAIN_INTERVAL_SECONDS = 5.0


class Progress:
    """Told when a table starts, as its rows go by, and when it ends. The base reports
    nothing."""

    def begin(self, name: str, total: int | None) -> None:
        """A table of `total` rows (None: not known in advance) starts."""

    def advance(self, rows: int) -> None:
        """`rows` more rows of the current table are done."""

    def end(self) -> None:
        """The current table is done."""

    def close(self) -> None:
        """Nothing more will be reported."""


class QuietProgress(Progress):
    """Reports nothing: for library callers and tests."""


class PlainProgress(Progress):
    """A line when a table starts, one every few seconds while it runs, and one when it
    ends: what a log file or a CI job keeps well."""

    def __init__(self, stream: IO[str], interval_seconds: float = PLAIN_INTERVAL_SECONDS) -> None:
        self.stream = stream
        self.interval = interval_seconds
        self.name = ""
        self.total: int | None = None
        self.done = 0
        self.started = self.last = 0.0

    def begin(self, name: str, total: int | None) -> None:
        self.name, self.total, self.done = name, total, 0
        self.started = self.last = time.monotonic()

    def advance(self, rows: int) -> None:
        self.done += rows
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._line("")

    def end(self) -> None:
        self._line(" done")

    def _line(self, suffix: str) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        of = f"/{self.total:,}" if self.total is not None else ""
        rate = self.done / elapsed
        print(
            f"{self.name}: {self.done:,}{of} rows, {elapsed:.1f} s, {rate:,.0f} rows/s{suffix}",
            file=self.stream,
            flush=True,
        )


class RichProgress(Progress):
    """One bar per table on a terminal, kept on screen once done."""

    def __init__(self, stream: IO[str]) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as Bars

        self.bars = Bars(
            TextColumn("{task.description:<20}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=stream),
        )
        self.bars.start()
        self.task: Any = None
        self.started = 0.0
        self.done = 0

    def begin(self, name: str, total: int | None) -> None:
        self.task = self.bars.add_task(name, total=total, rate="")
        self.started, self.done = time.monotonic(), 0

    def advance(self, rows: int) -> None:
        self.done += rows
        rate = self.done / max(time.monotonic() - self.started, 1e-9)
        self.bars.update(self.task, advance=rows, rate=f"{rate:,.0f} rows/s")

    def end(self) -> None:
        task = self.bars.tasks[-1]
        if task.total is None or task.completed < task.total:
            self.bars.update(self.task, total=task.completed)

    def close(self) -> None:
        self.bars.stop()


def progress_for(stream: IO[str] | None = None) -> Progress:
    """Bars when `stream` (default: standard error) is a terminal, plain lines otherwise."""
    stream = stream if stream is not None else sys.stderr
    if stream.isatty():
        return RichProgress(stream)
    return PlainProgress(stream)


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], stream: IO[str] | None = None
) -> None:
    """A summary table: numbers right-aligned with thousands separators, text left."""
    stream = stream if stream is not None else sys.stdout
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [
        max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)
    ]
    numeric = [all(isinstance(row[i], int | float) for row in rows) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ).rstrip()

    print(line(headers), file=stream)
    print("  ".join("-" * width for width in widths), file=stream)
    for row in cells:
        print(line(row), file=stream)


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)
