"""The runs documents and helpers that `tests/test_scopes.py` imports by this module's
name; the runs tests are in `tests/runs/test_runs.py`. No tests here."""

from tests.runs.test_runs import ADD_ARTIFACTS, add_chunk, create_run, initialize_trajectory

__all__ = ["ADD_ARTIFACTS", "add_chunk", "create_run", "initialize_trajectory"]
