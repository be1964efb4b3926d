"""Flocks: subscribers of a process that get the same events and the same messages, pushed
by one of them.

Sharing a message's execution (`scimeta.live.shared`) leaves each subscriber its own
work per event: its task wakes up, checks its token, finds which events it pushes and
sends the message. Subscribers whose events and messages are all the same - the same
document, the same variables, the same visibility - can leave even that to one of them:
they form a `Flock`. Its leader is an ordinary subscription; the others are members that
wait, their queues unfed (`Subscription.passive`), while the leader writes each message
it sends to their connections too, checking each member's token before each batch, and
moves their cursors on.

A member whose message cannot be written at once (its client reads slowly), whose
visibility changed, or that the leader cannot serve (the leader pushes events it read
from the log, or a message whose execution was not shared) is let go with `RESUME`: it
pushes what it missed itself, read from the log after its cursor, exactly as a subscriber
that fell behind does, and may join a flock again once it is live. A leader that leaves
between batches hands the flock to its oldest member, which simply goes on; one that leaves
in the middle of a batch lets every member go. Each subscriber still gets every event it
asked for once, in order: its cursor says which it got.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from scimeta.live.hub import Delivery, Subscription
    from scimeta.live.shared import Route, SharedData
    from scimeta.models import Event

# an event as the hub offers it to a subscription, with the batch it came in
Offer: TypeAlias = tuple["Event", "Delivery"]


class Outcome(enum.Enum):
    """Why a member's wait ended."""

    # push for itself from its cursor on (read what it missed from the log)
    RESUME = "resume"
    # lead the flock: its queue is fed again, its cursor is where the leader left off
    LEAD = "lead"
    # its connection is closed: end the subscription
    CLOSED = "closed"
    # its token no longer works: refuse the socket
    REFUSED = "refused"
    # the server is shutting down
    HUB_CLOSED = "hub closed"


class Member:
    """A subscriber waiting in a flock: where its messages go, and how to check its token
    and visibility before a batch."""

    __slots__ = ("allowed", "outcome", "route", "subscription", "task", "visibility", "woken")

    def __init__(
        self,
        subscription: Subscription,
        route: Route,
        allowed: Callable[[], Awaitable[Hashable | None]],
    ) -> None:
        self.subscription = subscription
        self.route = route
        # the member's visibility now, None if its token no longer works
        self.allowed = allowed
        self.task = asyncio.current_task()
        self.outcome: Outcome | None = None
        self.woken = asyncio.Event()

    @property
    def gone(self) -> bool:
        """Its operation was completed or cancelled: nothing more is written for it."""
        task = self.task
        return task is not None and (task.done() or task.cancelling() > 0)


class Flock:
    """The subscribers of one process with one key (arguments, messages and visibility):
    a leader, and members it pushes to."""

    def __init__(self, key: Hashable, flocks: dict[Hashable, Flock]) -> None:
        self.key = key
        self._flocks = flocks
        self.leader: Subscription | None = None
        # where the leader's own messages go
        self.leader_route: Route | None = None
        self.members: dict[Subscription, Member] = {}

    # --- members ---

    async def wait(self, member: Member) -> Outcome:
        """Wait in the flock until let go, promoted or closed; leaves it in any case."""
        subscription = member.subscription
        self.members[subscription] = member
        subscription.passive = True
        try:
            await member.woken.wait()
            assert member.outcome is not None
            return member.outcome
        finally:
            self._leave(member)

    def _leave(self, member: Member) -> None:
        subscription = member.subscription
        if self.members.get(subscription) is member:
            del self.members[subscription]
        subscription.passive = False
        self._forget_if_empty()

    def let_go(self, member: Member, outcome: Outcome) -> None:
        """End a member's wait (synchronously: from now on its queue is fed again)."""
        if member.outcome is not None:
            return
        member.outcome = outcome
        member.subscription.passive = False
        self.members.pop(member.subscription, None)
        member.woken.set()

    def let_all_go(self, outcome: Outcome) -> None:
        for member in list(self.members.values()):
            self.let_go(member, outcome)
        self._forget_if_empty()

    # --- the leader ---

    def lead(self, subscription: Subscription, route: Route) -> bool:
        """Whether `subscription` leads the flock (taking the lead if nobody has it)."""
        if self.leader is None:
            self.leader, self.leader_route = subscription, route
        return self.leader is subscription

    async def check(self, visibility: Hashable) -> None:
        """Before a batch: members whose token no longer works are let go to refuse their
        socket, and those whose visibility changed to push for themselves."""
        for member in list(self.members.values()):
            if member.gone:
                self.let_go(member, Outcome.CLOSED)
                continue
            try:
                now = await member.allowed()
            except Exception:
                # (the database, say): the member finds out for itself
                self.let_go(member, Outcome.RESUME)
                continue
            if member.outcome is not None:
                continue
            if now is None:
                self.let_go(member, Outcome.REFUSED)
            elif now != visibility:
                self.let_go(member, Outcome.RESUME)

    def push(self, sequence: int, data: SharedData | None) -> None:
        """The leader sent event `sequence`'s message with `data` (None: its execution was
        not shared): written to every member that has not had it."""
        if not self.members:
            return
        if data is None:
            # each executes it for itself
            self.let_all_go(Outcome.RESUME)
            return
        for member in list(self.members.values()):
            subscription = member.subscription
            if subscription.cursor >= sequence:
                continue
            if member.gone:
                self.let_go(member, Outcome.CLOSED)
                continue
            writer = member.route.writer
            frame = data.frame(member.route)
            written = None if writer is None else writer.write_text(frame, data.wire)
            if written is None:
                self.let_go(member, Outcome.RESUME)
            elif not written:
                self.let_go(member, Outcome.CLOSED)
            else:
                subscription.cursor = sequence

    def passed(self, cursor: int) -> None:
        """The leader is done with every event up to `cursor` (those it did not push
        were not for any member either)."""
        for member in self.members.values():
            if member.subscription.cursor < cursor:
                member.subscription.cursor = cursor

    def leave(self, subscription: Subscription, backlog: list[Offer] | None) -> None:
        """The leader goes, leaving `backlog`: the events it took and may not have pushed
        yet, in order (None: it lost some, having fallen behind). The member furthest
        behind leads on, with the backlog in its queue; without a backlog every member
        pushes for itself from its cursor."""
        if self.leader is not subscription:
            return
        self.leader = self.leader_route = None
        if backlog is None:
            self.let_all_go(Outcome.RESUME)
            return
        for member in list(self.members.values()):
            if member.gone:
                self.let_go(member, Outcome.CLOSED)
        if self.members:
            heir = min(self.members.values(), key=lambda member: member.subscription.cursor)
            self.leader, self.leader_route = heir.subscription, heir.route
            self.let_go(heir, Outcome.LEAD)
            for event, delivery in backlog:
                heir.subscription.offer(event, delivery)
        self._forget_if_empty()

    def _forget_if_empty(self) -> None:
        if self.leader is None and not self.members and self._flocks.get(self.key) is self:
            del self._flocks[self.key]


def flock_of(flocks: dict[Hashable, Flock], key: Hashable) -> Flock:
    flock = flocks.get(key)
    if flock is None:
        flock = flocks[key] = Flock(key, flocks)
    return flock


def close_all(flocks: dict[Hashable, Flock]) -> None:
    """The server is shutting down: every member's wait ends."""
    for flock in list(flocks.values()):
        flock.let_all_go(Outcome.HUB_CLOSED)
        flock.leader = flock.leader_route = None
    flocks.clear()


__all__ = ["Flock", "Member", "Outcome", "close_all", "flock_of"]
