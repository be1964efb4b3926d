"""The run service's summaries as their run's metrics: a run has one summary, each of its
fields a metric told apart by (run, key)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scimeta.errors import BadUserInput
from scimeta.transfer.labs.aonp_rows import Refused, name_of, number, plain, source_id, timestamp
from scimeta.transfer.labs.aonp_sql import INSERT_METRICS
from scimeta.transfer.labs.aonp_state import ROWS_PER_STEP, ImportState, chunks, event
from scimeta.writes.core import MAX_METRIC_KEY_NAME, check_metric_key_text, metric_keys
from scimeta.writes.runs import NAME_LENGTH
from scimeta.writes.transaction import Writer

# summary fields that are OpenMC results or settings: numbers, with the catalogue's unit
SUMMARY_NUMBERS = {
    "keff": None,
    "keff_std": None,
    "keff_uncertainty_pcm": "pcm",
    "n_batches": None,
    "n_inactive": None,
    "n_particles": None,
}
_SUMMARY_FIELDS = {"_id", "run_id", "extracted_at"}


@dataclass
class MetricRow:
    key: str
    value: float | None
    text: str | None
    unit: str | None


@dataclass
class SummaryRow:
    location: str
    source_id: str | None
    run: str
    metrics: list[MetricRow]
    extracted_at: datetime | None


def summary_row(location: str, document: dict[str, Any]) -> SummaryRow:
    run = name_of(document, "run_id", NAME_LENGTH)
    metrics = []
    for key, value in document.items():
        if key in _SUMMARY_FIELDS or value is None:
            continue
        try:
            check_metric_key_text(key, "key", MAX_METRIC_KEY_NAME)
        except BadUserInput as exc:
            raise Refused(f"its field {key!r} cannot name a metric: {exc.message}") from exc
        if key in SUMMARY_NUMBERS:
            metrics.append(MetricRow(key, number(value, key), None, SUMMARY_NUMBERS[key]))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            metrics.append(MetricRow(key, number(value, key), None, None))
        else:
            converted = plain(value, key)
            text = converted if isinstance(converted, str) else json.dumps(converted)
            metrics.append(MetricRow(key, None, text, None))
    if not metrics:
        raise Refused("it holds no results: no field besides _id, run_id and extracted_at")
    return SummaryRow(
        location=location,
        source_id=source_id(document),
        run=run,
        metrics=metrics,
        extracted_at=timestamp(document.get("extracted_at"), "extracted_at"),
    )


async def import_summaries(state: ImportState) -> None:
    counts = state.report.of("Summary")
    state.progress.begin("Summary", state.total("summaries"))
    rows = state.rows("summaries", "Summary", summary_row, "run_id")
    state.progress.advance(state.total("summaries") - len(rows))
    seen: dict[str, str] = {}
    for chunk in chunks(rows, ROWS_PER_STEP):
        async with state.step() as writer:
            await state.known_runs([row.run for row in chunk])
            taken: list[tuple[SummaryRow, int]] = []
            for row in chunk:
                try:
                    run_id = state.run_of(row.run)
                    if row.run in seen:
                        raise Refused(
                            f"{seen[row.run]} is a summary of the same run; a run has one"
                        )
                    seen[row.run] = row.location
                    taken.append((row, run_id))
                except Refused as exc:
                    state.refuse("Summary", row.location, row.run, str(exc))
            added = await _insert_metrics(state, writer, taken)
            for _, run_id in taken:
                new = added.get(run_id, {})
                if new:
                    counts.created += 1
                    writer.record(event("Run", run_id, "metrics_recorded", {"metrics": new}))
                else:
                    counts.present += 1
        state.progress.advance(len(chunk))
    state.progress.end()


async def _insert_metrics(
    state: ImportState, writer: Writer, taken: Sequence[tuple[SummaryRow, int]]
) -> dict[int, dict[str, Any]]:
    """Insert the metrics the runs do not have yet; run id -> {key: value} of those
    inserted."""
    metrics = [(run_id, row, metric) for row, run_id in taken for metric in row.metrics]
    if not metrics:
        return {}
    units = {metric.key: metric.unit for _, _, metric in metrics}
    keys = await metric_keys(writer, list(units), units)
    driver = await state.driver()
    inserted = await driver.fetch(
        INSERT_METRICS,
        [run_id for run_id, _, _ in metrics],
        [keys[metric.key] for _, _, metric in metrics],
        [metric.value for _, _, metric in metrics],
        [metric.text for _, _, metric in metrics],
        [metric.unit for _, _, metric in metrics],
        [row.extracted_at for _, row, _ in metrics],
    )
    names = {key_id: name for name, key_id in keys.items()}
    added: dict[int, dict[str, Any]] = {}
    for run_id, key_id, value, text_value in inserted:
        added.setdefault(run_id, {})[names[key_id]] = value if value is not None else text_value
    return added
