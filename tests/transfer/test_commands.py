"""`scimeta export` and `scimeta import` from the command line: progress, summaries,
exit codes and messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from scimeta.server.cli import main
from scimeta.transfer.progress import PlainProgress
from tests.conftest import DatabaseFactory


@pytest.fixture
async def source_url(demo_source: AsyncEngine) -> str:
    return demo_source.url.render_as_string(hide_password=False)


@pytest.fixture
async def empty_url(databases: DatabaseFactory) -> str:
    return await databases.create()


def test_export_then_import_from_the_command_line(
    source_url: str,
    empty_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    monkeypatch.setenv("DATABASE_URL", source_url)
    assert main(["export", str(out)]) == 0
    printed = capsys.readouterr()
    manifest = json.loads((out / "manifest.json").read_text())
    total = sum(e["rows"] for e in manifest["entities"])
    # not a terminal: a plain line as each table ends, and a summary
    for entity in manifest["entities"]:
        rows = entity["rows"]
        assert f"{entity['type']}: {rows:,}/{rows:,} rows" in printed.err
    (total_line,) = [line for line in printed.out.splitlines() if line.startswith("total")]
    assert total_line.split() == ["total", f"{total:,}", "manifest.json"]
    assert f"exported {total:,} rows to {out}" in printed.out

    monkeypatch.setenv("DATABASE_URL", empty_url)
    assert main(["import", "scimeta-export", str(out), "--dry-run"]) == 0
    printed = capsys.readouterr()
    assert "would create" in printed.out
    assert "nothing written" in printed.out
    assert main(["import", "scimeta-export", str(out)]) == 0
    assert f"imported {total:,} rows" in capsys.readouterr().out
    assert main(["import", "scimeta-export", str(out)]) == 0
    summary = capsys.readouterr().out.splitlines()
    (total_line,) = [line for line in summary if line.startswith("total")]
    assert total_line.split() == ["total", f"{total:,}", "0", f"{total:,}", "0"]


def test_refusals_fail_the_command_and_are_listed(
    source_url: str,
    empty_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    monkeypatch.setenv("DATABASE_URL", source_url)
    assert main(["export", str(out), "--where", "study=AOA"]) == 0
    studies = out / "Study.jsonl"
    studies.write_text(studies.read_text() + "[1, 2]\n")
    capsys.readouterr()
    monkeypatch.setenv("DATABASE_URL", empty_url)
    refusals = tmp_path / "refusals.jsonl"
    code = main(["import", "scimeta-export", str(out), "--refusals", str(refusals)])
    printed = capsys.readouterr()
    assert code == 1
    assert "scimeta: error: 1 rows were refused" in printed.err
    assert "refused Study (Study.jsonl line 2):" in printed.out
    (written,) = [json.loads(line) for line in refusals.read_text().splitlines()]
    assert written["entity"] == "Study"
    assert written["location"] == "Study.jsonl line 2"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["export", "{tmp}", "--where", "owner=me"], "give project=NAME or study=NAME"),
        (["export", "{tmp}", "--token", "smt_unknown"], "Unknown API token"),
        (["import", "scimeta-export", "{tmp}"], "has no manifest.json"),
        (["import", "scimeta-export", "{tmp}", "--study", "AOA"], "imported whole"),
    ],
)
def test_bad_requests_exit_with_a_message(
    arguments: list[str],
    message: str,
    source_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", source_url)
    assert main([a.replace("{tmp}", str(tmp_path)) for a in arguments]) == 1
    assert message in capsys.readouterr().err


def test_plain_progress_writes_a_line_per_table_and_while_it_runs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sys

    progress = PlainProgress(sys.stdout, interval_seconds=0)
    progress.begin("Recording", 3)
    progress.advance(2)
    progress.advance(1)
    progress.end()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Recording: 2/3 rows")
    assert lines[1].startswith("Recording: 3/3 rows")
    assert lines[-1].startswith("Recording: 3/3 rows") and lines[-1].endswith(" done")
