"""
Storage drivers: where accounts and module data are kept.

A driver (an L{xmppframe.interfaces.IStorage}) opens three kinds of
stores, each by host and name: key-value, map and archive.  Every driver
keeps the same semantics, so a module tested against the in-memory driver
behaves the same on SQLite:

  - values are anything C{json} can encode (no NaN or infinity), and come
    back as what decoding that JSON gives (tuples become lists, dict keys
    become strings): never the object that was stored;
  - C{None} as a value deletes;
  - archive ids are strings of increasing integers, never reused;
  - every error reaches the caller through the returned Deferred.

This module holds what the drivers share: L{ArchiveItem}, the exceptions,
the checks on arguments, and the one list of drivers, L{DRIVERS}, from
which the configuration check, the server and the admin command all take
the names and L{storageFromConfig} builds the driver a configuration names.
"""

import json
import math
from collections import namedtuple

__all__ = [
    "ArchiveItem", "StorageError", "SchemaVersionError", "DatabaseDamaged", "StorageDriver",
    "DRIVERS",
    "DEFAULT_DRIVER", "storageFromConfig",
]


ArchiveItem = namedtuple("ArchiveItem", "id when with_ payload")
ArchiveItem.__doc__ = """
One item of an L{xmppframe.interfaces.IArchiveStore}.

@ivar id: C{str}, unique and increasing within the store.
@ivar when: POSIX time, a C{float}.
@ivar with_: the other party's bare JID as C{str}, or C{None}.
@ivar payload: C{bytes}, usually a serialized stanza.
"""


class StorageError(Exception):
    """
    The storage driver failed: the database cannot be opened, is corrupt,
    is locked for too long, or the driver is closed.  C{str()} of it says
    which and why; the driver's own exception is its C{__cause__}.
    """


class SchemaVersionError(StorageError):
    """
    The database was written by a newer version of xmppframe: its schema
    version is above the newest this code knows, so it is left untouched
    rather than misread.
    """


class DatabaseDamaged(StorageError):
    """
    The database file is damaged: a page of it is not what the database
    format says (SQLite's C{SQLITE_CORRUPT}, or C{SQLITE_NOTADB} for a file
    that is not a database at all).  Nothing the server does fixes it; it
    has to be restored from a backup.

    The driver logs this once, as one critical line naming the file, when
    it first finds it (see L{xmppframe.storage.sqlite}); C{explained} says
    that in a few words, and a module that logs a failure carrying it logs
    one line with them instead of a traceback
    (L{xmppframe.api.module.ModuleLogger}).
    """

    #: What those who log a failure carrying it say instead of a
    #: traceback: the driver has said the rest, once.
    explained = "the database is damaged (see the critical line about it above)"


class StorageDriver:
    """
    A storage driver that C{storage.driver} may name: how to build it and
    what the rest of the server needs to know about it.

    @ivar name: the name in the config.
    @ivar durable: whether what it stores outlives the process (the admin
        command warns before changing data in one that is not).
    @ivar usesPath: whether it keeps its data in the file C{storage.path}.
    @ivar description: a few words for people, as the example config
        (C{examples/xmppframe.toml}) quotes them.
    """

    def __init__(self, name, build, durable, usesPath, description):
        self.name = name
        self._build = build
        self.durable = durable
        self.usesPath = usesPath
        self.description = description

    def __repr__(self):
        return "<StorageDriver %s>" % (self.name,)

    def build(self, path, reactor):
        """
        Build (but do not open) the driver.

        @param path: the database file, if L{usesPath}.
        @param reactor: the reactor whose threads or clock it uses.
        @rtype: L{xmppframe.interfaces.IStorage}
        @raise ValueError: if the driver needs a path and C{path} is empty.
        """
        if self.usesPath and not path:
            raise ValueError("storage driver %r needs a database path" % (self.name,))
        return self._build(path, reactor)


# The drivers are imported when built, so that importing this package costs
# nothing and a broken driver does not break the others.

def _buildSQLite(path, reactor):
    from xmppframe.storage.sqlite import SQLiteStorage
    return SQLiteStorage(path, reactor=reactor)


def _buildMemory(path, reactor):
    from xmppframe.storage.memory import MemoryStorage
    return MemoryStorage(clock=reactor)


#: Every storage driver, by name: the only list of them.
DRIVERS = {driver.name: driver for driver in (
    StorageDriver("sqlite", _buildSQLite, durable=True, usesPath=True,
                  description="durable, embedded in the process; the default"),
    StorageDriver("memory", _buildMemory, durable=False, usesPath=False,
                  description="nothing kept after a restart; for tests"),
)}

#: The driver a config that names none gets.
DEFAULT_DRIVER = "sqlite"


def storageFromConfig(driver, path, reactor):
    """
    Build (but do not open) the storage driver named C{driver} in
    L{DRIVERS}.

    @param path: the database file, for a driver that keeps one.
    @param reactor: the reactor whose threads or clock the driver uses.
    @rtype: L{xmppframe.interfaces.IStorage}
    @raise ValueError: for an unknown driver or a missing path.
    """
    found = DRIVERS.get(driver)
    if found is None:
        raise ValueError("unknown storage driver %r (expected one of: %s)"
                         % (driver, ", ".join(DRIVERS)))
    return found.build(path, reactor)


# The checks and encodings below are shared by every driver, so that they
# reject the same arguments with the same messages.

def checkText(what, value, allowEmpty=True):
    """
    @return: C{value} if it is a C{str} (non-empty unless C{allowEmpty}).
    @raise TypeError: if it is not a C{str}.
    @raise ValueError: if it is empty and must not be.
    """
    if not isinstance(value, str):
        raise TypeError("%s must be a str, not %s" % (what, type(value).__name__))
    if not allowEmpty and not value:
        raise ValueError("%s must not be empty" % (what,))
    return value


def checkStoreName(host, name):
    """
    Check the host and store name a store is opened with.
    """
    checkText("host", host, allowEmpty=False)
    checkText("store name", name, allowEmpty=False)


def encodeValue(value):
    """
    @return: C{value} as compact JSON text.
    @raise TypeError: if C{value} cannot be encoded as JSON.
    @raise ValueError: for NaN or infinity, which JSON has no text for.
    """
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except TypeError as e:
        raise TypeError("value cannot be stored as JSON: %s" % (e,)) from None
    except ValueError as e:
        raise ValueError("value cannot be stored as JSON: %s" % (e,)) from None
    except RecursionError:
        raise ValueError("value cannot be stored as JSON: nested too deeply "
                         "or circular") from None


def decodeValue(text):
    """
    @return: the value encoded as C{text} by L{encodeValue}.
    """
    return json.loads(text)


def checkPayload(payload):
    """
    @return: C{payload} as C{bytes}.
    @raise TypeError: if it is not bytes-like.
    """
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, (bytearray, memoryview)):
        return bytes(payload)
    raise TypeError("archive payload must be bytes, not %s" % (type(payload).__name__,))


def checkTime(what, value):
    """
    @return: C{value} as a finite C{float}, or C{None}.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s must be a POSIX time (a number), not %s"
                        % (what, type(value).__name__))
    value = float(value)
    if not math.isfinite(value):
        raise ValueError("%s must be a finite POSIX time" % (what,))
    return value


def parseArchiveId(what, value):
    """
    @return: the integer an archive id C{str} stands for, or C{None}.
    @raise ValueError: if C{value} is not such an id.
    """
    if value is None:
        return None
    checkText(what, value)
    if not (value.isascii() and value.isdigit()):
        raise ValueError("%s must be an archive id (a string of digits), not %r"
                         % (what, value))
    return int(value)


def checkLimit(limit):
    """
    @return: C{limit}, C{None} or a non-negative C{int}.
    """
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError("limit must be an int, not %s" % (type(limit).__name__,))
    if limit < 0:
        raise ValueError("limit must not be negative")
    return limit


def checkArchiveIds(ids):
    """
    @return: a sorted list of the integers the archive ids C{ids} (an
        iterable of C{str}, not a single C{str}) stand for.
    """
    if isinstance(ids, (str, bytes)):
        raise TypeError("ids must be an iterable of archive ids, not a single string")
    return sorted({parseArchiveId("archive id", i) for i in ids})
