"""Limits come from the environment, each from a variable named after it; a bad value is
refused with the variable's name."""

from __future__ import annotations

import pytest

from scimeta.operation_limits import Limits
from scimeta.server.settings import Settings


def test_limits_are_read_from_their_variables() -> None:
    settings = Settings.from_env(
        {
            "SCIMETA_MAX_DEPTH": "7",
            "SCIMETA_BATCHING": "yes",
            "SCIMETA_STATEMENT_TIMEOUT_SECONDS": "2.5",
        }
    )
    assert settings.limits == Limits(max_depth=7, batching=True, statement_timeout_seconds=2.5)
    assert Settings.from_env({}).limits == Limits()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SCIMETA_MAX_ALIASES", "many", "SCIMETA_MAX_ALIASES must be a whole number"),
        ("SCIMETA_MAX_COST", "0", "SCIMETA_MAX_COST must be 1 or more"),
        ("SCIMETA_CONNECTION_INIT_TIMEOUT_SECONDS", "-1", "must be 0 or more"),
    ],
)
def test_a_bad_limit_is_refused_with_its_variable_named(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env({variable: value})
