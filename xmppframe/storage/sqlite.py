"""
The embedded default storage driver: one SQLite file.

Why this shape:
  - Writes and anything whose size has no bound run in one thread of a
    L{twisted.enterprise.adbapi.ConnectionPool} with a single connection:
    the reactor thread never waits for a commit's fsync, and one writer
    means no lock contention inside the process.
  - Small reads (one key, one user's map, one page of an archive in id
    order) run on the reactor thread, on a read-only connection of their
    own, when no write is under way.  Such a read costs about 10 µs of CPU
    where the trip to the database thread and back costs about 200 µs (two
    thread wake-ups and the reactor's waker), and a login makes several.
    In WAL mode a reader never waits for the writer or a checkpoint; if it
    ever finds the database busy (another process recovering the WAL), it
    falls back to the thread instead of waiting.  While a write is under
    way, reads queue behind it in the thread, so a read always sees the
    writes the same process started before it.
  - Durable before acknowledged: C{synchronous=FULL} and every operation
    runs as its own transaction that adbapi commits before the Deferred
    fires, so a stanza acknowledged to a client survives a power cut.
  - C{journal_mode=WAL} lets the admin command (C{xmppframe user ...})
    read and write while the server runs; a busy timeout covers the short
    moments one of them holds the write lock.
  - Readable by the server's user only: the database holds SCRAM keys and
    message archives.  L{SQLiteStorage.open} creates the file with mode
    0600 before SQLite opens it (SQLite would make it 0644, and gives its
    C{-wal} and C{-shm} files the database's mode), its missing directories
    0700, and takes group and other permissions off existing files, logging
    that it did.
  - The schema is versioned: a C{schema_version} table and the ordered
    L{MIGRATIONS}.  L{SQLiteStorage.open} applies the missing ones in one
    transaction, and refuses a database from a newer xmppframe rather than
    misreading it.
  - Created, never silently re-created: a missing or empty (0-byte) file
    is a new database, and L{SQLiteStorage.open} logs C{Created the
    database PATH} and sets L{SQLiteStorage.created}.  Whether a missing
    database I{may} be created is decided before, from the data
    directory's record (L{xmppframe.installation}).
  - A damaged database is one clear error.  L{SQLiteStorage.open} runs
    C{PRAGMA quick_check} on an existing database, so that a server never
    starts on one: it reads every page and checks each b-tree page's
    structure (not the indexes against the tables, which
    C{integrity_check} does at about 14 times the cost).  Measured on a
    55 MB database of 100,000 archived messages and 1,000 accounts, with
    the file in the page cache: 70 ms (C{integrity_check}: 0.95 s); its
    cost grows with the file, so a 1 GB database adds about a second to
    a start, plus reading the file from disk.  What it finds fails the
    open with L{DatabaseDamaged}, whose one line names the file and
    SQLite's first complaint.  A page damaged while the server runs is
    found when a request reads it (C{SQLITE_CORRUPT}, "database disk
    image is malformed"): the request fails with L{DatabaseDamaged}, and
    the first one is logged as one critical line; modules that log the
    failure log one line, not a traceback (the exception's C{explained}).
"""

import os
import sqlite3

from twisted.enterprise import adbapi
from twisted.internet import defer
from twisted.logger import Logger
from zope.interface import implementer

from xmppframe.installation import isMissing
from xmppframe.interfaces import IArchiveStore, IKeyValueStore, IMapStore, IStorage
from xmppframe.privatefiles import createPrivateFile, makePrivateDirectories, tightenModes
from xmppframe.storage import (
    ArchiveItem, DatabaseDamaged, SchemaVersionError, StorageError, checkArchiveIds, checkLimit,
    checkPayload, checkStoreName, checkText, checkTime, decodeValue, encodeValue,
    parseArchiveId)

__all__ = ["SQLiteStorage", "MIGRATIONS", "SCHEMA_VERSION"]


# Migrations: each takes a cursor inside the open transaction and moves the
# schema one version up.  Append new ones; never edit a released one.

def _createStores(cursor):
    """
    Version 1: the key-value, map and archive tables.
    """
    cursor.execute("""
        CREATE TABLE kv (
            host TEXT NOT NULL, store TEXT NOT NULL, user TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (host, store, user)
        ) WITHOUT ROWID""")
    cursor.execute("""
        CREATE TABLE map (
            host TEXT NOT NULL, store TEXT NOT NULL, user TEXT NOT NULL,
            key TEXT NOT NULL, value TEXT NOT NULL,
            PRIMARY KEY (host, store, user, key)
        ) WITHOUT ROWID""")
    # AUTOINCREMENT: ids are never reused, even after the newest items are
    # deleted, so an id a client saw (a MAM result id) names one item only.
    cursor.execute("""
        CREATE TABLE archive (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            host TEXT NOT NULL, store TEXT NOT NULL, user TEXT NOT NULL,
            when_ REAL NOT NULL, with_ TEXT, payload BLOB NOT NULL
        )""")
    cursor.execute("CREATE INDEX archive_by_user ON archive (host, store, user, id)")
    cursor.execute(
        "CREATE INDEX archive_by_with ON archive (host, store, user, with_, id)")
    cursor.execute(
        "CREATE INDEX archive_by_time ON archive (host, store, user, when_)")


#: The ordered schema migrations; the schema version is how many of them a
#: database has had.
MIGRATIONS = (_createStores,)

#: The schema version this code writes.
SCHEMA_VERSION = len(MIGRATIONS)

#: The largest archive page read on the reactor thread (see the module
#: docstring); larger ones go to the database thread.
SMALL_PAGE = 500

#: The files SQLite keeps besides the database, by suffix.
COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")

#: Seconds a statement waits for another process's write lock.
BUSY_TIMEOUT = 10.0


def _prepareConnection(connection):
    """
    Set the per-connection pragmas (adbapi calls this for every new
    connection).
    """
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA foreign_keys=ON")


#: SQLite's primary result codes for a damaged file: SQLITE_CORRUPT, and
#: SQLITE_NOTADB for a file that is not a database at all.
DAMAGE_CODES = (11, 26)


def _isDamage(error):
    """
    Whether the C{sqlite3.Error} C{error} says the file is damaged.
    """
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in DAMAGE_CODES
    text = str(error)
    return "malformed" in text or "not a database" in text


def _checkPages(cursor):
    """
    Run SQLite's C{quick_check} (see the module docstring).

    @return: C{None} if it finds nothing, else its first complaint.
    """
    cursor.execute("PRAGMA quick_check(1)")
    rows = cursor.fetchall()
    lines = [line for row in rows for line in str(row[0]).splitlines()
             if line and not line.startswith("***")]
    if lines == ["ok"]:
        return None
    return lines[0] if lines else "the check returned nothing"


def _openDatabase(cursor, migrations, check):
    """
    Check the pages of an existing database (if C{check}), then migrate
    it.

    @return: C{(fromVersion, toVersion)}, as L{_migrate}.
    @raise DatabaseDamaged: if the check finds a damaged page.
    """
    if check:
        complaint = _checkPages(cursor)
        if complaint is not None:
            raise DatabaseDamaged(complaint)
    return _migrate(cursor, migrations)


def _migrate(cursor, migrations):
    """
    Bring the schema up to C{len(migrations)} in one transaction.

    @return: C{(fromVersion, toVersion)}.
    @raise SchemaVersionError: if the database is newer than C{migrations}.
    """
    # IMMEDIATE takes the write lock now, so two processes opening a new
    # database cannot both migrate it.
    cursor.execute("BEGIN IMMEDIATE")
    cursor.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    cursor.execute("SELECT version FROM schema_version")
    rows = cursor.fetchall()
    if len(rows) > 1:
        raise StorageError("the schema_version table has %d rows, expected one" % (len(rows),))
    if rows:
        version = rows[0][0]
    else:
        version = 0
        cursor.execute("INSERT INTO schema_version (version) VALUES (0)")
    if not isinstance(version, int) or version < 0:
        raise StorageError("the schema version %r is not a version" % (version,))
    if version > len(migrations):
        raise SchemaVersionError(
            "the database has schema version %d but this xmppframe knows only up "
            "to %d: it was written by a newer xmppframe; upgrade, or use a backup"
            % (version, len(migrations)))
    for migration in migrations[version:]:
        migration(cursor)
    cursor.execute("UPDATE schema_version SET version = ?", (len(migrations),))
    return version, len(migrations)


@implementer(IStorage)
class SQLiteStorage:
    """
    Every store of every host, in one SQLite database file.

    @param path: the database file; L{open} creates it (mode 0600) and its
        missing directories (mode 0700).
    @param reactor: the reactor that runs the database thread and whose
        clock stamps archive items.
    @param migrations: the schema migrations (tests pass their own).
    """

    _log = Logger()

    def __init__(self, path, reactor, migrations=MIGRATIONS):
        self.path = path
        self._reactor = reactor
        self._migrations = tuple(migrations)
        self._pool = None
        self._reader = None
        self._closing = False
        self._pending = set()
        # Interactions (writes, or reads of any size) started and not yet
        # settled: while there are any, reads go through the thread too.
        self._writing = 0
        #: Whether the last L{open} created the database (the file was
        #: missing or empty).
        self.created = False
        # Whether open() has succeeded: the errors of a failed open are the
        # caller's to report, those after it are logged here (damage, once).
        self._opened = False
        self._damageReported = False

    def open(self):
        """
        Create the directory and the file (readable by their owner only),
        connect, and migrate the schema.

        @return: a Deferred that fires when the database is ready, or fails
            with L{StorageError} (L{SchemaVersionError} for a database of a
            newer xmppframe).
        """
        if self._pool is not None:
            return defer.succeed(None)
        self.created = self.path != ":memory:" and isMissing(self.path)
        self._opened = False
        try:
            self._makeDirectory()
        except OSError as e:
            return defer.fail(StorageError(
                "cannot create the directory of the database %s: %s" % (self.path, e)))
        try:
            self._makePrivate()
        except OSError as e:
            return defer.fail(StorageError(
                "cannot make the database %s private to its owner: %s" % (self.path, e)))
        self._closing = False
        self._pool = adbapi.ConnectionPool(
            "sqlite3", self.path, timeout=BUSY_TIMEOUT, check_same_thread=False,
            cp_min=1, cp_max=1, cp_openfun=_prepareConnection,
            cp_reactor=self._reactor, cp_noisy=False)
        d = self._run(self._pool.runInteraction, _openDatabase, self._migrations,
                      not self.created)
        d.addCallbacks(self._migrated, self._openFailed)
        d.addCallback(lambda _: self._openReader())
        d.addCallback(self._openDone)
        return d

    def _openDone(self, _):
        self._opened = True

    def _openReader(self):
        """
        Connect the reactor thread's read-only connection (see the module
        docstring).  An in-memory database is private to its connection, so
        it has none and every read goes through the thread.
        """
        if self.path == ":memory:" or self._pool is None:
            return
        # timeout=0: a busy database is an error at once (and the read goes
        # to the thread), never a wait on the reactor thread.
        # isolation_level=None: each SELECT is its own read transaction, so it
        # sees every commit before it.
        reader = sqlite3.connect(self.path, timeout=0, isolation_level=None)
        reader.execute("PRAGMA query_only=ON")
        self._reader = reader

    def _makeDirectory(self):
        if self.path == ":memory:":
            return
        makePrivateDirectories(os.path.dirname(os.path.abspath(self.path)))

    def _makePrivate(self):
        """
        Create the database file with mode 0600 if it is missing, so that
        SQLite never makes it (or its WAL) readable by others, and take
        group and other permissions off the files that already are.
        """
        if self.path == ":memory:":
            return
        createPrivateFile(self.path)
        changed = tightenModes([self.path] + [self.path + suffix
                                              for suffix in COMPANION_SUFFIXES])
        if changed:
            self._log.warn(
                "Made {files} readable by their owner only (they were {modes}): the "
                "database holds credentials and message archives",
                files=", ".join(path for path, _ in changed),
                modes=", ".join("%04o" % (mode,) for _, mode in changed))

    def _migrated(self, versions):
        before, after = versions
        if self.created:
            self._log.info("Created the database {path} (schema version {after})",
                           path=self.path, after=after)
        elif before != after:
            self._log.info("Migrated the database {path} from schema version "
                           "{before} to {after}", path=self.path, before=before, after=after)

    def _openFailed(self, failure):
        pool, self._pool = self._pool, None
        pool.close()
        return failure

    def close(self):
        """
        Wait for the operations under way, then disconnect.  Operations
        started after this fail with L{StorageError}.

        @return: a Deferred that fires once disconnected.
        """
        if self._pool is None or self._closing:
            return defer.succeed(None)
        self._closing = True
        pending = list(self._pending)

        def disconnect(_):
            pool, self._pool = self._pool, None
            pool.close()
            reader, self._reader = self._reader, None
            if reader is not None:
                reader.close()

        d = defer.gatherResults(pending)
        d.addCallback(disconnect)
        return d

    def keyValue(self, host, name):
        checkStoreName(host, name)
        return _KeyValueStore(self, host, name)

    def map(self, host, name):
        checkStoreName(host, name)
        return _MapStore(self, host, name)

    def archive(self, host, name):
        checkStoreName(host, name)
        return _ArchiveStore(self, host, name)

    def runInteraction(self, interaction, *args):
        """
        Run C{interaction(cursor, *args)} in the database thread, in one
        transaction committed before the result is delivered.

        @return: a Deferred firing with its result; database errors come
            as L{StorageError}.
        """
        if self._pool is None or self._closing:
            return self._notOpen()
        self._writing += 1
        return self._run(self._pool.runInteraction, interaction, *args, writing=True)

    def runRead(self, interaction):
        """
        Run C{interaction(cursor)}, which only reads a bounded number of
        rows, on the reactor thread when no write is under way, else in the
        database thread after the writes (see the module docstring).

        @return: a Deferred with its result (already fired when the read
            ran here); database errors come as L{StorageError}.
        """
        if self._pool is None or self._closing:
            return self._notOpen()
        reader = self._reader
        if reader is not None and not self._writing:
            try:
                cursor = reader.cursor()
                try:
                    result = interaction(cursor)
                finally:
                    cursor.close()
            except sqlite3.OperationalError:
                # Busy or locked (or any other trouble of this connection):
                # the thread's connection waits as long as writes may.
                pass
            except Exception:
                return defer.fail().addErrback(self._translate)
            else:
                return defer.succeed(result)
        return self._run(self._pool.runInteraction, interaction)

    def _notOpen(self):
        return defer.fail(StorageError("the database %s is not open" % (self.path,)))

    def _run(self, call, *args, writing=False):
        # close() waits on `done`, not on `d`, so that it never touches the
        # result the caller gets.
        done = defer.Deferred()
        self._pending.add(done)
        d = call(*args)

        def settled(result):
            if writing:
                self._writing -= 1
            self._pending.discard(done)
            done.callback(None)
            return result

        d.addBoth(settled)
        d.addErrback(self._translate)
        return d

    def _translate(self, failure):
        """
        Make a driver's error (or the open's check's L{DatabaseDamaged})
        into a L{StorageError} that names the file; log the first damage
        found after the open as one critical line.
        """
        failure.trap(sqlite3.Error, DatabaseDamaged)
        cause = failure.value
        if isinstance(cause, DatabaseDamaged) or _isDamage(cause):
            if isinstance(cause, DatabaseDamaged):
                what = "SQLite's check at open: %s" % (cause,)
            else:
                what = "SQLite: %s" % (cause,)
            advice = "stop the server and restore the file from a backup"
            error = DatabaseDamaged("the database %s is damaged (%s): %s"
                                    % (self.path, what, advice))
            if self._opened and not self._damageReported:
                self._damageReported = True
                self._log.critical(
                    "The database {path} is damaged ({what}): {advice}; until then every "
                    "request that needs it fails (logged once)",
                    path=self.path, what=what, advice=advice)
        else:
            error = StorageError("database %s: %s" % (self.path, cause))
        error.__cause__ = cause
        raise error

    def _now(self):
        return self._reactor.seconds()

    def __repr__(self):
        return "<SQLiteStorage %s>" % (self.path,)


def _interaction(method):
    """
    Make C{method(self, cursor, ...)} of a store into a method that checks
    nothing itself but runs in a database transaction; argument checks
    belong before it, in the calling method.
    """
    def run(self, *args):
        def interaction(cursor):
            return method(self, cursor, *args)
        return self._storage.runInteraction(interaction)
    run.__name__ = method.__name__
    run.__wrapped__ = method
    return run


def _read(method):
    """
    Like L{_interaction}, for a C{method} that only reads a bounded number
    of rows: it may run on the reactor thread (L{SQLiteStorage.runRead}).
    """
    def run(self, *args):
        def interaction(cursor):
            return method(self, cursor, *args)
        return self._storage.runRead(interaction)
    run.__name__ = method.__name__
    return run


def _checked(method):
    """
    Deliver the exceptions of C{method}'s argument checks through a
    Deferred, as the in-memory driver does.
    """
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except Exception:
            return defer.fail()
    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


class _Store:

    def __init__(self, storage, host, name):
        self._storage = storage
        self._host = host
        self._name = name

    def __repr__(self):
        return "<%s %s/%s in %r>" % (type(self).__name__, self._host, self._name, self._storage)


class _UserListing:
    """
    C{users()} of a store kept in table C{_table}, with one row per item
    and a C{user} column (the map and archive tables).
    """

    _table = None

    def users(self):
        return self._users()

    @_interaction
    def _users(self, cursor):
        cursor.execute("SELECT DISTINCT user FROM %s WHERE host = ? AND store = ? "
                       "ORDER BY user" % (self._table,), (self._host, self._name))
        return [row[0] for row in cursor.fetchall()]


@implementer(IKeyValueStore)
class _KeyValueStore(_Store):

    @_checked
    def get(self, user):
        checkText("user", user)
        return self._get(user)

    @_checked
    def set(self, user, value):
        checkText("user", user)
        if value is None:
            return self._delete(user).addCallback(lambda _: None)
        return self._set(user, encodeValue(value))

    @_checked
    def delete(self, user):
        checkText("user", user)
        return self._delete(user)

    def keys(self):
        return self._keys()

    @_read
    def _get(self, cursor, user):
        cursor.execute("SELECT value FROM kv WHERE host = ? AND store = ? AND user = ?",
                       (self._host, self._name, user))
        row = cursor.fetchone()
        return None if row is None else decodeValue(row[0])

    @_interaction
    def _set(self, cursor, user, text):
        cursor.execute(
            "INSERT INTO kv (host, store, user, value) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (host, store, user) DO UPDATE SET value = excluded.value",
            (self._host, self._name, user, text))

    @_interaction
    def _delete(self, cursor, user):
        cursor.execute("DELETE FROM kv WHERE host = ? AND store = ? AND user = ?",
                       (self._host, self._name, user))
        return cursor.rowcount > 0

    @_interaction
    def _keys(self, cursor):
        cursor.execute("SELECT user FROM kv WHERE host = ? AND store = ? ORDER BY user",
                       (self._host, self._name))
        return [row[0] for row in cursor.fetchall()]


@implementer(IMapStore)
class _MapStore(_UserListing, _Store):

    _table = "map"

    @_checked
    def get(self, user, key):
        checkText("user", user)
        checkText("key", key)
        return self._get(user, key)

    @_checked
    def set(self, user, key, value):
        checkText("user", user)
        checkText("key", key)
        if value is None:
            return self._delete(user, key).addCallback(lambda _: None)
        return self._set(user, key, encodeValue(value))

    @_checked
    def delete(self, user, key):
        checkText("user", user)
        checkText("key", key)
        return self._delete(user, key)

    @_checked
    def items(self, user):
        checkText("user", user)
        return self._items(user)

    @_checked
    def clear(self, user):
        checkText("user", user)
        return self._clear(user)

    @_read
    def _get(self, cursor, user, key):
        cursor.execute(
            "SELECT value FROM map WHERE host = ? AND store = ? AND user = ? AND key = ?",
            (self._host, self._name, user, key))
        row = cursor.fetchone()
        return None if row is None else decodeValue(row[0])

    @_interaction
    def _set(self, cursor, user, key, text):
        cursor.execute(
            "INSERT INTO map (host, store, user, key, value) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (host, store, user, key) DO UPDATE SET value = excluded.value",
            (self._host, self._name, user, key, text))

    @_interaction
    def _delete(self, cursor, user, key):
        cursor.execute(
            "DELETE FROM map WHERE host = ? AND store = ? AND user = ? AND key = ?",
            (self._host, self._name, user, key))
        return cursor.rowcount > 0

    @_read
    def _items(self, cursor, user):
        cursor.execute("SELECT key, value FROM map WHERE host = ? AND store = ? AND user = ?",
                       (self._host, self._name, user))
        return {key: decodeValue(text) for key, text in cursor.fetchall()}

    @_interaction
    def _clear(self, cursor, user):
        cursor.execute("DELETE FROM map WHERE host = ? AND store = ? AND user = ?",
                       (self._host, self._name, user))


@implementer(IArchiveStore)
class _ArchiveStore(_UserListing, _Store):

    _table = "archive"

    @_checked
    def append(self, user, payload, with_=None, when=None):
        checkText("user", user)
        payload = checkPayload(payload)
        if with_ is not None:
            checkText("with_", with_)
        when = checkTime("when", when)
        if when is None:
            when = self._storage._now()
        return self._append(user, payload, with_, when)

    @_checked
    def query(self, user, with_=None, start=None, end=None, after=None,
              before=None, limit=None, reverse=False):
        checkText("user", user)
        conditions = ["host = ?", "store = ?", "user = ?"]
        parameters = [self._host, self._name, user]
        if with_ is not None:
            conditions.append("with_ = ?")
            parameters.append(checkText("with_", with_))
        for column, operator, value in (
                ("when_", ">=", checkTime("start", start)),
                ("when_", "<=", checkTime("end", end)),
                ("id", ">", parseArchiveId("after", after)),
                ("id", "<", parseArchiveId("before", before))):
            if value is not None:
                conditions.append("%s %s ?" % (column, operator))
                parameters.append(value)
        sql = ("SELECT id, when_, with_, payload FROM archive WHERE %s ORDER BY id %s"
               % (" AND ".join(conditions), "DESC" if reverse else "ASC"))
        limit = checkLimit(limit)
        if limit is not None:
            sql += " LIMIT ?"
            parameters.append(limit)
        # A page in id order walks an index and stops at the limit; a time
        # range is sorted by id after the scan, however long it is.
        if limit is not None and limit <= SMALL_PAGE and start is None and end is None:
            return self._queryPage(sql, parameters)
        return self._query(sql, parameters)

    @_checked
    def count(self, user):
        checkText("user", user)
        return self._count(user)

    @_checked
    def delete(self, user, ids=None):
        checkText("user", user)
        if ids is not None:
            ids = checkArchiveIds(ids)
        return self._delete(user, ids)

    @_interaction
    def _append(self, cursor, user, payload, with_, when):
        cursor.execute(
            "INSERT INTO archive (host, store, user, when_, with_, payload) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (self._host, self._name, user, when, with_, sqlite3.Binary(payload)))
        return str(cursor.lastrowid)

    @_interaction
    def _query(self, cursor, sql, parameters):
        cursor.execute(sql, parameters)
        return [ArchiveItem(str(itemId), when, with_, bytes(payload))
                for itemId, when, with_, payload in cursor.fetchall()]

    _queryPage = _read(_query.__wrapped__)

    @_interaction
    def _count(self, cursor, user):
        cursor.execute("SELECT COUNT(*) FROM archive WHERE host = ? AND store = ? AND user = ?",
                       (self._host, self._name, user))
        return cursor.fetchone()[0]

    @_interaction
    def _delete(self, cursor, user, ids):
        where = "host = ? AND store = ? AND user = ?"
        key = (self._host, self._name, user)
        if ids is None:
            cursor.execute("DELETE FROM archive WHERE " + where, key)
            return cursor.rowcount
        removed = 0
        for itemId in ids:
            cursor.execute("DELETE FROM archive WHERE %s AND id = ?" % (where,), key + (itemId,))
            removed += cursor.rowcount
        return removed
