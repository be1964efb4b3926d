"""Writing a subscription's messages straight to its WebSocket connection.

A change pushed to a thousand subscribers is a thousand messages, and through ASGI each
one climbs down Starlette's WebSocket, the middleware's `send` wrappers and uvicorn's
`send`, and has its frame built, before the write that puts it on the socket.
`FrameWriter` (in the connection scope's extensions, under `FRAME_WRITER`, where the
server's protocol puts it: `scimeta.server.websockets`) does only what that chain does
for a text message on an open connection: builds the frame and writes it; and where no
extension changes the bytes (no compression), a frame of the same text is built once and
written to every connection as it is (server frames are not masked). Anything else - a
connection still in its handshake, closing or closed, or whose client reads too slowly to
take more - is left to the usual `send`, which waits or fails as it always does.
"""

from __future__ import annotations

from typing import Any

from websockets.frames import Frame, Opcode
from websockets.protocol import State

# the key of the `FrameWriter` in a WebSocket scope's "extensions"
FRAME_WRITER = "scimeta.frame_writer"

# frames kept per message text (see `FrameWriter.write_text`): a message is sent to its
# subscribers within moments, so a few recent ones suffice
_WIRE_CACHE_SIZE = 64


def wire_frame(text: str) -> bytes:
    """The bytes of an unmasked, uncompressed, unfragmented text frame of `text`."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class FrameWriter:
    """Writes text messages straight to one WebSocket connection."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol

    @property
    def writable(self) -> bool:
        """Whether a message written now would go out at once: the client keeps up."""
        return bool(self._protocol.writable.is_set())

    def write_text(self, text: str, wire: dict[str, bytes] | None = None) -> bool | None:
        """Write a text message: True once written; False if the connection is closed or
        closing (the client went away, or the server sent its close); None if it cannot
        be written now - during the handshake, or while the client reads too slowly for
        the transport to take more - so the caller sends it the usual way, which waits.

        `wire`: frames of earlier texts, shared by the connections a message goes to:
        without extensions, the frame of a text is the same bytes on every connection.
        """
        protocol = self._protocol
        if protocol.disconnected or protocol.close_sent:
            return False
        if (
            not protocol.handshake_complete
            or protocol.initial_response is not None
            or not protocol.writable.is_set()
        ):
            return None
        connection = protocol.conn
        if connection.state is not State.OPEN:
            return False
        if connection.extensions or wire is None:
            connection.send_text(text.encode())
            data = b"".join(connection.data_to_send())
        else:
            data = wire.get(text) or b""
            if not data:
                if len(wire) >= _WIRE_CACHE_SIZE:
                    wire.clear()
                data = wire[text] = wire_frame(text)
        protocol.transport.write(data)
        return True


def frame_writer(scope: Any) -> FrameWriter | None:
    """The connection's `FrameWriter`, if its server protocol provides one."""
    extensions = scope.get("extensions") if isinstance(scope, dict) else None
    writer = extensions.get(FRAME_WRITER) if isinstance(extensions, dict) else None
    return writer if isinstance(writer, FrameWriter) else None
