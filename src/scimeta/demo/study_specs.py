"""Simulation studies: pin-cell criticality specifications, identified by the SHA-256 of
their canonical JSON as the run pipeline deduplicates them."""

from __future__ import annotations

import math
from typing import Any

from scimeta.demo.bulk import RowWriter
from scimeta.models import Study
from scimeta.writes.runs import spec_hash

_ENRICHMENTS = (1.6, 2.4, 3.1, 4.0, 4.5, 4.95)
_BORON_PPM = (0, 600, 1200, 1800)
_SETTINGS = ((100, 20, 10_000), (150, 30, 20_000), (200, 50, 50_000))


def spec_study_count(scale: int) -> int:
    return 2 + scale // 20


def pincell_spec(index: int) -> dict[str, Any]:
    """The specification of the `index`-th pin-cell study: enrichment and boron vary
    fastest, so the first few studies already span a wide range of keff."""
    enrichment = _ENRICHMENTS[index % len(_ENRICHMENTS)]
    boron = _BORON_PPM[(index // len(_ENRICHMENTS) + index) % len(_BORON_PPM)]
    batches, inactive, particles = _SETTINGS[index % len(_SETTINGS)]
    return {
        "name": f"pincell-{index + 1:03d}",
        "geometry": {
            "type": "pincell",
            "pitch_cm": 1.26,
            "fuel_radius_cm": 0.4096,
            "clad_outer_radius_cm": 0.475,
            "boundary": "reflective",
        },
        "materials": {
            "fuel": {"uo2_enrichment_wt_pct": enrichment, "density_g_cm3": 10.4},
            "moderator": {"boron_ppm": boron, "temperature_k": 565.0},
        },
        "settings": {"batches": batches, "inactive": inactive, "particles": particles},
    }


def expected_keff(spec: dict[str, Any]) -> float:
    """A smooth stand-in for the physics: more enrichment raises keff, boron lowers it."""
    enrichment = float(spec["materials"]["fuel"]["uo2_enrichment_wt_pct"])
    boron = float(spec["materials"]["moderator"]["boron_ppm"])
    return 1.10 + 0.16 * math.log(enrichment / 1.6) - 0.0001 * boron


async def load_spec_studies(writer: RowWriter, scale: int) -> list[tuple[int, dict[str, Any]]]:
    """Insert the missing studies; return (id, spec) of every study runs may refer to."""
    specs = [pincell_spec(index) for index in range(spec_study_count(scale))]
    rows = []
    for spec in specs:
        fuel, moderator = spec["materials"]["fuel"], spec["materials"]["moderator"]
        rows.append(
            {
                "name": spec["name"],
                "title": (
                    f"PWR pin cell, {fuel['uo2_enrichment_wt_pct']} wt% UO2, "
                    f"{moderator['boron_ppm']} ppm boron"
                ),
                "description": "Infinite-lattice pin-cell eigenvalue calculation with OpenMC.",
                "spec": spec,
                "spec_hash": spec_hash(spec),
                "attributes": {"code": "openmc"},
            }
        )
    await writer.insert_new(Study, rows, key="name")
    ids = await writer.ids_by_key(Study, "name", [spec["name"] for spec in specs])
    return [(ids[spec["name"]], spec) for spec in specs]
