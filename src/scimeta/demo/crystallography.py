"""The crystallographic tasks demo jobs run: their input and output files, the KPIs they
report, and the sub-jobs a pipeline task runs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FileKind:
    mimetype: str
    extension: str
    content_flag: int | None = None
    sub_type: int | None = None


FILE_KINDS = {
    "unmerged": FileKind("application/CCP4-unmerged-experimental", "mtz"),
    # Content flag 4: mean amplitudes (FMEAN, SIGFMEAN).
    "observed": FileKind("application/CCP4-mtz-observed", "mtz", content_flag=4),
    "freerflag": FileKind("application/CCP4-mtz-freerflag", "mtz", content_flag=1),
    "phases": FileKind("application/CCP4-mtz-map", "mtz", content_flag=1, sub_type=1),
    "model": FileKind("chemical/x-pdb", "pdb", sub_type=1),
    "sequence": FileKind("application/CCP4-seq", "fasta"),
    "dictionary": FileKind("application/refmac-dictionary", "cif"),
    "restraints": FileKind("application/refmac-external", "txt"),
}


@dataclass(frozen=True)
class Task:
    name: str
    title: str
    # (parameter name, file kind) pairs.
    inputs: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str], ...]
    kpis: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    minutes: tuple[float, float] = (0.5, 5.0)


_OBSERVED = ("F_SIGF", "observed")
_FREE = ("FREERFLAG", "freerflag")
_MODEL_IN = ("XYZIN", "model")
_MODEL_OUT = ("XYZOUT", "model")
_PHASES_OUT = ("FPHIOUT", "phases")
_REFINEMENT = ("Rfactor", "RFree")

TASKS = {
    task.name: task
    for task in (
        Task(
            "import_merged",
            "Import merged reflections",
            inputs=(("HKLIN", "observed"),),
            outputs=(("OBSOUT", "observed"), ("FREEROUT", "freerflag")),
            kpis=("resolution", "spaceGroup"),
            minutes=(0.2, 1.0),
        ),
        Task(
            "aimless_pipe",
            "Data reduction",
            inputs=(("UNMERGEDFILES", "unmerged"),),
            outputs=(("HKLOUT", "observed"), ("FREEROUT", "freerflag")),
            kpis=("resolution", "spaceGroup", "completeness"),
            children=("pointless", "aimless", "ctruncate", "freerflag"),
        ),
        Task(
            "pointless",
            "Determine the Laue group",
            inputs=(("UNMERGEDFILES", "unmerged"),),
            outputs=(("HKLOUT", "unmerged"),),
            kpis=("spaceGroup",),
        ),
        Task(
            "aimless",
            "Scale and merge intensities",
            inputs=(("UNMERGEDFILES", "unmerged"),),
            outputs=(("HKLOUT", "observed"),),
            kpis=("resolution", "completeness"),
        ),
        Task(
            "ctruncate",
            "Convert intensities to amplitudes",
            inputs=(("HKLIN", "observed"),),
            outputs=(("HKLOUT", "observed"),),
        ),
        Task(
            "freerflag",
            "Assign free-R flags",
            inputs=(_OBSERVED,),
            outputs=(("FREEROUT", "freerflag"),),
        ),
        Task(
            "phaser_pipeline",
            "Molecular replacement and refinement",
            inputs=(_OBSERVED, _FREE, _MODEL_IN),
            outputs=(_MODEL_OUT, _PHASES_OUT),
            kpis=("LLG", "TFZ", *_REFINEMENT),
            children=("phaser_simple", "prosmart_refmac"),
        ),
        Task(
            "phaser_simple",
            "Molecular replacement",
            inputs=(_OBSERVED, _MODEL_IN),
            outputs=(_MODEL_OUT,),
            kpis=("LLG", "TFZ"),
            minutes=(5.0, 40.0),
        ),
        Task(
            "prosmart_refmac",
            "Refinement with external restraints",
            inputs=(_OBSERVED, _FREE, _MODEL_IN),
            outputs=(_MODEL_OUT, _PHASES_OUT),
            kpis=_REFINEMENT,
            children=("prosmart", "refmac"),
        ),
        Task(
            "prosmart",
            "Generate external restraints",
            inputs=(_MODEL_IN,),
            outputs=(("RESTRAINTS", "restraints"),),
        ),
        Task(
            "refmac",
            "Restrained refinement",
            inputs=(_OBSERVED, _FREE, _MODEL_IN),
            outputs=(_MODEL_OUT, _PHASES_OUT),
            kpis=_REFINEMENT,
            minutes=(1.0, 8.0),
        ),
        Task(
            "modelcraft",
            "Automated model building",
            inputs=(_OBSERVED, _FREE, ("ASUIN", "sequence"), _MODEL_IN),
            outputs=(_MODEL_OUT, _PHASES_OUT),
            kpis=("residuesBuilt", *_REFINEMENT),
            children=("buccaneer_build_refine", "coot_script_lines"),
        ),
        Task(
            "buccaneer_build_refine",
            "Build and refine",
            inputs=(_OBSERVED, _FREE, ("ASUIN", "sequence"), ("ABCD", "phases")),
            outputs=(_MODEL_OUT, _PHASES_OUT),
            kpis=("residuesBuilt", *_REFINEMENT),
            children=("buccaneer", "refmac"),
        ),
        Task(
            "buccaneer",
            "Trace the main chain",
            inputs=(_OBSERVED, ("ASUIN", "sequence"), ("ABCD", "phases")),
            outputs=(_MODEL_OUT,),
            kpis=("residuesBuilt",),
            minutes=(5.0, 30.0),
        ),
        Task(
            "coot_script_lines",
            "Scripted model fixes",
            inputs=(_MODEL_IN, ("FPHIIN", "phases")),
            outputs=(_MODEL_OUT,),
        ),
        Task(
            "coot_rebuild",
            "Model building in Coot",
            inputs=(_MODEL_IN, ("FPHIIN", "phases")),
            outputs=(_MODEL_OUT,),
            minutes=(10.0, 90.0),
        ),
        Task(
            "copycell",
            "Copy the unit cell",
            inputs=(("HKLIN", "observed"), _MODEL_IN),
            outputs=(_MODEL_OUT, _PHASES_OUT),
            kpis=_REFINEMENT,
            children=("ctruncate", "refmac"),
        ),
        Task(
            "SubstituteLigand",
            "Place and refine a ligand",
            inputs=(_OBSERVED, _FREE, _MODEL_IN),
            outputs=(_MODEL_OUT, ("DICTOUT", "dictionary")),
            kpis=_REFINEMENT,
            children=("acedrg", "prosmart_refmac"),
        ),
        Task(
            "acedrg",
            "Ligand restraints from SMILES",
            inputs=(),
            outputs=(("DICTOUT", "dictionary"),),
        ),
        Task("validate_protein", "Model validation", inputs=(_MODEL_IN, _OBSERVED), outputs=()),
    )
}

# How a project starts, and what its later top-level jobs are drawn from.
OPENING_TASKS = ("aimless_pipe", "import_merged")
FOLLOW_UP_TASKS = ("prosmart_refmac", "coot_rebuild", "prosmart_refmac", "copycell")
