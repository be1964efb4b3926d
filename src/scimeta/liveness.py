"""Whether the database behind an engine may have gone away: noticed by whatever sees it
(the event listener, a request that failed for it) and acted on by the pool, which pings
a connection before use only then (`scimeta.server.database` hooks it to the pools of
the engines it makes)."""

from __future__ import annotations

import time
import weakref
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util.concurrency import await_

# A pooled connection idle longer than this is pinged before use, whatever else is known.
PING_AFTER_IDLE_SECONDS = 10.0


class Liveness:
    """Whether a pooled connection may be dead, so that it is pinged before it is used.

    The embedded server may have been restarted by another scimeta process, or the
    database by its operators, leaving dead connections in the pool. Pinging each before
    use costs every request a round trip. Instead, whatever notices the database going
    away says so (`lost`: the event listener, whose connection ends at once when the
    server goes, and any request that fails for it), and a connection is pinged only if
    that happened since it was last used, or it has been idle for a while: a busy pool
    whose database stays up sends no ping. A dead connection is replaced by a new one.
    """

    def __init__(self) -> None:
        self.epoch = 0

    def lost(self) -> None:
        """The database may have gone away: ping every pooled connection before use."""
        self.epoch += 1

    def connected(self, dbapi_connection: Any, record: Any) -> None:
        self._mark(record)

    def checked_in(self, dbapi_connection: Any, record: Any) -> None:
        self._mark(record)

    def _mark(self, record: Any) -> None:
        record.info["scimeta.live"] = (self.epoch, time.monotonic())

    def checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        mark = record.info.get("scimeta.live")
        if mark is not None:
            epoch, since = mark
            if epoch == self.epoch and time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
                return
        # one round trip (SQLAlchemy's own pre-ping wraps it in BEGIN and ROLLBACK, three)
        try:
            await_(proxy.driver_connection.execute("SELECT 1"))
        except Exception as exc:
            self.lost()
            raise DisconnectionError(f"a pooled connection is gone: {exc}") from exc


_LIVENESS: weakref.WeakKeyDictionary[Engine, Liveness] = weakref.WeakKeyDictionary()


def watch_liveness(engine: AsyncEngine) -> Liveness:
    """A new `Liveness` for `engine`, found by `liveness_of` (the caller hooks it to the
    engine's pool)."""
    liveness = _LIVENESS[engine.sync_engine] = Liveness()
    return liveness


def liveness_of(bind: Any) -> Liveness | None:
    """The `Liveness` of an engine made by `create_engine` (None for any other bind)."""
    if isinstance(bind, AsyncEngine):
        return _LIVENESS.get(bind.sync_engine)
    return None
