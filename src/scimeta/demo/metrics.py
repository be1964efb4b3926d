"""The metric-key catalogue of the demo data and the metric (KPI) rows that use it."""

from __future__ import annotations

from dataclasses import dataclass, field

from scimeta.demo.bulk import RowWriter
from scimeta.models import Metric, MetricKey


@dataclass(frozen=True)
class MetricKeySpec:
    name: str
    description: str
    unit: str | None = None


METRIC_KEYS = (
    # Crystallographic job KPIs, named as the refinement and scaling programs report them.
    MetricKeySpec("Rfactor", "R-factor of the model against the working reflections"),
    MetricKeySpec("RFree", "R-factor of the model against the free reflections"),
    MetricKeySpec("resolution", "High-resolution limit of the data", "Å"),
    MetricKeySpec("spaceGroup", "Space group of the crystal"),
    MetricKeySpec("completeness", "Completeness of the merged reflections", "%"),
    MetricKeySpec("LLG", "Log-likelihood gain of the molecular-replacement solution"),
    MetricKeySpec("TFZ", "Translation-function Z-score of the molecular-replacement solution"),
    MetricKeySpec("residuesBuilt", "Residues built into the model"),
    # Monte Carlo criticality summaries.
    MetricKeySpec("keff", "Effective neutron multiplication factor"),
    MetricKeySpec("keff_std", "Standard deviation of keff"),
    MetricKeySpec("keff_uncertainty_pcm", "Uncertainty of keff", "pcm"),
    MetricKeySpec("n_batches", "Batches simulated"),
    MetricKeySpec("n_inactive", "Inactive batches discarded before tallying"),
    MetricKeySpec("n_particles", "Particles per batch"),
    # Audits of machine-learned potential trajectories.
    MetricKeySpec("max_force_error", "Largest force deviation from the reference", "eV/Å"),
    # Acoustic-emission recordings.
    MetricKeySpec("audio_duration", "Length of the processed audio", "s"),
    MetricKeySpec("cycle_count", "Movement cycles extracted"),
    MetricKeySpec("mean_cycle_duration", "Mean duration of the extracted cycles", "s"),
)
_UNITS = {key.name: key.unit for key in METRIC_KEYS}
_OWNERS = ("job_id", "run_id", "chunk_id", "recording_id", "calculation_id")


async def load_metric_keys(writer: RowWriter) -> dict[str, int]:
    """Insert the catalogue keys that are missing; return the ids of all of them."""
    rows = [
        {"name": key.name, "description": key.description, "unit": key.unit} for key in METRIC_KEYS
    ]
    await writer.insert_new(MetricKey, rows, key="name")
    return await writer.ids_by_key(MetricKey, "name", [key.name for key in METRIC_KEYS])


@dataclass
class MetricRows:
    """Metric rows for any owner kind, collected across a load and copied at once."""

    key_ids: dict[str, int]
    rows: list[dict[str, object]] = field(default_factory=list)

    def add(self, owner: str, owner_id: int, key: str, value: float | str) -> None:
        """A metric of `owner` ("job_id", "run_id", ...): numbers go to `value`, words to
        `text`, and the unit is the catalogue's."""
        if owner not in _OWNERS:
            raise ValueError(f"metrics cannot belong to {owner}")
        row: dict[str, object] = dict.fromkeys(_OWNERS)
        row |= {
            "key_id": self.key_ids[key],
            "value": None if isinstance(value, str) else float(value),
            "text": value if isinstance(value, str) else None,
            "unit": _UNITS[key],
            owner: owner_id,
        }
        self.rows.append(row)

    async def write(self, writer: RowWriter) -> None:
        await writer.copy(Metric, self.rows)
        self.rows.clear()
