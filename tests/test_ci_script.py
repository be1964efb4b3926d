""".ci/run cannot go green without checking: run on a scratch copy of the project, it
fails when the install fails and when, on a CI machine, the second database target does
not answer; and it says why on its last line.

Both failures come before any suite runs, so each check takes seconds (the install
check: the time pip needs to find that a dependency does not exist).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# nothing listens on port 1 of loopback
NOWHERE = "postgresql://postgres@127.0.0.1:1/test"
SKIPPED = {".venv", ".git", "__pycache__", ".mypy_cache", ".ruff_cache", "node_modules"}


def scratch_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    shutil.copytree(
        ROOT,
        copy,
        ignore=lambda _, names: [name for name in names if name in SKIPPED],
        symlinks=True,
    )
    return copy


def run_ci(copy: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"CI", "TEST_DATABASE_URL", "VIRTUAL_ENV"}
    }
    return subprocess.run(
        [str(copy / ".ci" / "run")],
        cwd=copy,
        env={**env, **environment},
        capture_output=True,
        text=True,
        timeout=600,
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def test_an_unreachable_second_target_fails_the_run_on_a_ci_machine(tmp_path: Path) -> None:
    copy = scratch_copy(tmp_path)

    result = run_ci(copy, CI="true", SCIMETA_CI_EXTERNAL_URL=NOWHERE)

    assert result.returncode != 0, result.stdout
    assert "FAILED" in last_line(result) and "does not answer" in last_line(result)
    # found before anything was installed or run
    assert not (copy / ".venv").exists()
    assert "test suite" not in result.stdout


def test_a_failed_install_fails_the_run(tmp_path: Path) -> None:
    copy = scratch_copy(tmp_path)
    pyproject = copy / "pyproject.toml"
    text = pyproject.read_text()
    marker = "dependencies = [\n"
    assert marker in text
    # a requirement no index can satisfy
    pyproject.write_text(
        text.replace(marker, marker + '    "scimeta-no-such-distribution>=999",\n', 1)
    )

    result = run_ci(copy, SCIMETA_CI_EXTERNAL_URL=NOWHERE)

    assert result.returncode != 0, result.stdout
    assert last_line(result).startswith("== FAILED: install"), result.stdout[-2000:]
    assert "test suite" not in result.stdout
