"""Subscriptions write their shared messages straight to their connections
(`scimeta.live.frames.FrameWriter`): the same bytes as websockets would send
through ASGI, frame by frame."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine
from websockets.protocol import State
from websockets.server import ServerProtocol

from scimeta.live import frames
from tests.conftest import GraphQLClient
from tests.live.conftest import MESSAGE_TIMEOUT, serving
from tests.live.test_fan_out import note
from tests.live.test_shared_execution import UPDATE_RUN, WATCH, Socket
from tests.live.test_subscriptions import CREATE_STUDY, new_run, newest_sequence, row_id, unique


def sent_by_websockets(text: str) -> bytes:
    """What websockets' own protocol puts on the wire for a text message from a server
    with no extension."""
    protocol = ServerProtocol(state=State.OPEN)
    protocol.send_text(text.encode())
    return b"".join(protocol.data_to_send())


@pytest.mark.parametrize("length", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_a_shared_frame_is_what_websockets_sends_at_every_length_boundary(length: int) -> None:
    text = ("é" * length)[:length]
    assert frames.wire_frame(text) == sent_by_websockets(text)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_a_shared_frame_is_what_websockets_sends_for_any_text(text: str) -> None:
    assert frames.wire_frame(text) == sent_by_websockets(text)


async def test_subscribers_messages_go_through_the_frame_writer_with_the_same_bytes(
    live_engine: AsyncEngine, live_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four subscribers of one run: every message after the first each one gets is
    written by the frame writer, one shared frame for all, and reads as the message
    strawberry sent first."""
    written: list[tuple[str, bool | None]] = []
    original = frames.FrameWriter.write_text

    def counted(self: frames.FrameWriter, text: str, wire: Any = None) -> bool | None:
        result = original(self, text, wire)
        written.append((text, result))
        return result

    monkeypatch.setattr(frames.FrameWriter, "write_text", counted)
    async with (
        serving(live_engine) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=MESSAGE_TIMEOUT) as client,
    ):
        http = GraphQLClient(client)
        study = (await http.data(CREATE_STUDY, name=unique("writer")))["createStudy"]["study"]
        run = await new_run(http, study["id"])
        after = await newest_sequence(live_engine)
        async with contextlib.AsyncExitStack() as stack:
            sockets = [
                await stack.enter_async_context(
                    Socket.open(server.ws_url, WATCH, id=run["id"], after=after)
                )
                for _ in range(4)
            ]
            server.hub.share_messages = True
            await http.data(UPDATE_RUN, id=run["id"], change=0)
            first = [await socket.frame() for socket in sockets]
            written.clear()
            received: list[str] = []
            for _ in range(3):
                await note(live_url, int(row_id(run["id"])))
                frames_of_change = [await socket.frame() for socket in sockets]
                assert len(set(frames_of_change)) == 1
                message = json.loads(frames_of_change[0])
                assert message["payload"]["data"]["runChanged"]["event"]["type"] == "noted"
                received += frames_of_change
    # each of the three changes reached each of the four subscribers through the writer
    assert len(written) == 3 * 4, written
    assert all(result is True for _, result in written)
    assert sorted(text for text, _ in written) == sorted(received)
    assert json.loads(first[0])["payload"]["data"]["runChanged"]["run"]["id"] == run["id"]
