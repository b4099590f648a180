"""
An in-memory storage driver, for tests and throwaway servers.

It keeps the semantics of the SQLite driver (see L{xmppframe.storage}):
values are kept as JSON text, so what a caller gets back is always a fresh
copy and never the object it stored or an earlier result; archive ids come
from one counter that never goes back.  Its Deferreds have already fired
when they are returned, so tests need not spin a reactor.

Unlike the SQLite driver it works before L{MemoryStorage.open} and after
L{MemoryStorage.close} (test doubles often skip both), and everything is
lost with the object.
"""

import time

from twisted.internet import defer
from zope.interface import implementer

from xmppframe.interfaces import IArchiveStore, IKeyValueStore, IMapStore, IStorage
from xmppframe.storage import (
    ArchiveItem, checkArchiveIds, checkLimit, checkPayload, checkStoreName,
    checkText, checkTime, decodeValue, encodeValue, parseArchiveId)

__all__ = ["MemoryStorage"]


def _synchronously(method):
    """
    Run C{method} at once and return a fired Deferred with its result or
    its exception, so bad arguments reach the caller the way they do with
    the SQLite driver: through the Deferred.
    """
    def wrapper(*args, **kwargs):
        try:
            return defer.succeed(method(*args, **kwargs))
        except Exception:
            return defer.fail()
    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


@implementer(IKeyValueStore)
class _KeyValueStore:

    def __init__(self, values):
        # user -> JSON text; this dict belongs to the storage.
        self._values = values

    @_synchronously
    def get(self, user):
        text = self._values.get(checkText("user", user))
        return None if text is None else decodeValue(text)

    @_synchronously
    def set(self, user, value):
        checkText("user", user)
        if value is None:
            self._values.pop(user, None)
        else:
            self._values[user] = encodeValue(value)

    @_synchronously
    def delete(self, user):
        return self._values.pop(checkText("user", user), None) is not None

    @_synchronously
    def keys(self):
        return sorted(self._values)


@implementer(IMapStore)
class _MapStore:

    def __init__(self, maps):
        # user -> {key -> JSON text}; users with no keys are removed.
        self._maps = maps

    @_synchronously
    def get(self, user, key):
        checkText("key", key)
        text = self._maps.get(checkText("user", user), {}).get(key)
        return None if text is None else decodeValue(text)

    @_synchronously
    def set(self, user, key, value):
        checkText("user", user)
        checkText("key", key)
        if value is None:
            self._remove(user, key)
        else:
            self._maps.setdefault(user, {})[key] = encodeValue(value)

    @_synchronously
    def delete(self, user, key):
        checkText("user", user)
        checkText("key", key)
        return self._remove(user, key)

    @_synchronously
    def items(self, user):
        entries = self._maps.get(checkText("user", user), {})
        return {key: decodeValue(text) for key, text in entries.items()}

    @_synchronously
    def clear(self, user):
        self._maps.pop(checkText("user", user), None)

    @_synchronously
    def users(self):
        return sorted(user for user, entries in self._maps.items() if entries)

    def _remove(self, user, key):
        entries = self._maps.get(user)
        if entries is None or key not in entries:
            return False
        del entries[key]
        if not entries:
            del self._maps[user]
        return True


@implementer(IArchiveStore)
class _ArchiveStore:

    def __init__(self, storage, logs):
        self._storage = storage
        # user -> list of ArchiveItem with integer ids, in id order.
        self._logs = logs

    @_synchronously
    def append(self, user, payload, with_=None, when=None):
        checkText("user", user)
        payload = checkPayload(payload)
        if with_ is not None:
            checkText("with_", with_)
        when = checkTime("when", when)
        if when is None:
            when = self._storage._now()
        itemId = self._storage._nextArchiveId()
        self._logs.setdefault(user, []).append(ArchiveItem(itemId, when, with_, payload))
        return str(itemId)

    @_synchronously
    def query(self, user, with_=None, start=None, end=None, after=None,
              before=None, limit=None, reverse=False):
        checkText("user", user)
        if with_ is not None:
            checkText("with_", with_)
        start = checkTime("start", start)
        end = checkTime("end", end)
        after = parseArchiveId("after", after)
        before = parseArchiveId("before", before)
        limit = checkLimit(limit)
        matching = [
            item for item in self._logs.get(user, ())
            if (with_ is None or item.with_ == with_)
            and (start is None or item.when >= start)
            and (end is None or item.when <= end)
            and (after is None or item.id > after)
            and (before is None or item.id < before)]
        if reverse:
            matching.reverse()
        if limit is not None:
            matching = matching[:limit]
        return [item._replace(id=str(item.id)) for item in matching]

    @_synchronously
    def count(self, user):
        return len(self._logs.get(checkText("user", user), ()))

    @_synchronously
    def delete(self, user, ids=None):
        checkText("user", user)
        log = self._logs.get(user, [])
        if ids is None:
            kept = []
        else:
            doomed = set(checkArchiveIds(ids))
            kept = [item for item in log if item.id not in doomed]
        removed = len(log) - len(kept)
        if kept:
            self._logs[user] = kept
        else:
            self._logs.pop(user, None)
        return removed

    @_synchronously
    def users(self):
        return sorted(self._logs)


@implementer(IStorage)
class MemoryStorage:
    """
    Every store of every host, in dicts.

    @param clock: an L{IReactorTime} whose C{seconds()} stamps archive
        items appended without a time; the system clock when C{None}.
    """

    def __init__(self, clock=None):
        self._clock = clock
        self._lastArchiveId = 0
        # (host, name) -> the data of one store, shared by every store
        # object opened on it.
        self._keyValues = {}
        self._maps = {}
        self._archives = {}

    def open(self):
        return defer.succeed(None)

    def close(self):
        return defer.succeed(None)

    def keyValue(self, host, name):
        checkStoreName(host, name)
        return _KeyValueStore(self._keyValues.setdefault((host, name), {}))

    def map(self, host, name):
        checkStoreName(host, name)
        return _MapStore(self._maps.setdefault((host, name), {}))

    def archive(self, host, name):
        checkStoreName(host, name)
        return _ArchiveStore(self, self._archives.setdefault((host, name), {}))

    def _now(self):
        return self._clock.seconds() if self._clock is not None else time.time()

    def _nextArchiveId(self):
        self._lastArchiveId += 1
        return self._lastArchiveId

    def __repr__(self):
        return "<MemoryStorage>"
