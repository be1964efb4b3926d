"""The server's WebSocket connections: uvicorn's sans-I/O protocol, whose connections'
scopes carry a `scimeta.live.frames.FrameWriter`, with which subscriptions write their
shared messages straight to their connections.

Compression (permessage-deflate) is off unless `SCIMETA_WS_DEFLATE` turns it on:
subscription messages are small, compressing each costs CPU per message per subscriber
and a compressor per connection, and a compressed frame cannot be shared between
connections.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from scimeta.live.frames import FRAME_WRITER, FrameWriter

# the protocol class for `uvicorn.Config(ws=...)`, by name (worker processes import it)
WS_PROTOCOL = "scimeta.server.websockets:FrameWritingProtocol"


class FrameWritingProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, whose connections' scopes carry a
    `FrameWriter`."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None:
            scope.setdefault("extensions", {})[FRAME_WRITER] = FrameWriter(self)
