"""The studies documents and helpers that `tests/test_scopes.py` imports by this module's
name; the studies tests are in `tests/studies/test_studies.py`. No tests here."""

from tests.studies.test_studies import (
    AUDIO,
    SAVE_RECORDING,
    create_study,
    participant_of,
    save_recording,
)

__all__ = ["AUDIO", "SAVE_RECORDING", "create_study", "participant_of", "save_recording"]
