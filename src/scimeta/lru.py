"""A bounded mapping that forgets the entry used least recently."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

KeyT = TypeVar("KeyT", bound=Hashable)
ValueT = TypeVar("ValueT")


class LRU(Generic[KeyT, ValueT]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[KeyT, ValueT] = OrderedDict()

    def get(self, key: KeyT) -> ValueT | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: KeyT, value: ValueT) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def get_or_make(self, key: KeyT, make: Callable[[], ValueT]) -> ValueT:
        value = self.get(key)
        if value is None:
            value = make()
            self.put(key, value)
        return value
