"""
Tests for the storage drivers: one set of tests, L{StorageTestsMixin}, run
against the in-memory driver and the SQLite driver, so that both keep the
same semantics; then what only SQLite has (files, schema versions).
"""

import os
import sqlite3
import stat

from twisted.internet import reactor, task
from twisted.trial import unittest
from zope.interface.verify import verifyObject

from xmppframe.interfaces import IArchiveStore, IKeyValueStore, IMapStore, IStorage
from xmppframe.storage import (
    DEFAULT_DRIVER, DRIVERS, ArchiveItem, SchemaVersionError, StorageError, storageFromConfig)
from xmppframe.storage.memory import MemoryStorage
from xmppframe.storage.sqlite import SCHEMA_VERSION, SQLiteStorage


class StorageTestsMixin:
    """
    The behaviour every L{IStorage} driver shares.  A subclass defines
    C{makeStorage()}, returning a Deferred that fires with an opened
    driver that is closed when the test ends.
    """

    async def setUp(self):
        self.storage = await self.makeStorage()

    def test_interfaces(self):
        self.assertTrue(verifyObject(IStorage, self.storage))
        self.assertTrue(verifyObject(IKeyValueStore, self.storage.keyValue("h", "s")))
        self.assertTrue(verifyObject(IMapStore, self.storage.map("h", "s")))
        self.assertTrue(verifyObject(IArchiveStore, self.storage.archive("h", "s")))

    # Key-value stores.

    async def test_keyValueRoundTrip(self):
        store = self.storage.keyValue("example.org", "vcard")
        self.assertIsNone(await store.get("alice"))
        value = {"name": "Alice", "tags": ["a", "b"], "n": 1.5, "ok": True, "none": None}
        await store.set("alice", value)
        self.assertEqual(await store.get("alice"), value)
        await store.set("alice", [1, 2])
        self.assertEqual(await store.get("alice"), [1, 2])

    async def test_keyValueJSONSemantics(self):
        """
        What comes back is what JSON makes of the value: tuples become
        lists and keys become strings.
        """
        store = self.storage.keyValue("example.org", "s")
        await store.set("alice", {"t": (1, 2), 3: "x", "u": "\u00e9\U0001f600"})
        self.assertEqual(await store.get("alice"), {"t": [1, 2], "3": "x", "u": "\u00e9\U0001f600"})

    async def test_keyValueCopies(self):
        """
        Neither the stored object nor a result aliases the stored value.
        """
        store = self.storage.keyValue("example.org", "s")
        value = {"list": [1]}
        await store.set("alice", value)
        value["list"].append(2)
        first = await store.get("alice")
        first["list"].append(3)
        self.assertEqual(await store.get("alice"), {"list": [1]})

    async def test_keyValueDelete(self):
        store = self.storage.keyValue("example.org", "s")
        await store.set("alice", 1)
        self.assertIs(await store.delete("alice"), True)
        self.assertIs(await store.delete("alice"), False)
        self.assertIsNone(await store.get("alice"))

    async def test_keyValueSetNoneDeletes(self):
        store = self.storage.keyValue("example.org", "s")
        await store.set("alice", 1)
        await store.set("alice", None)
        self.assertIsNone(await store.get("alice"))
        self.assertEqual(await store.keys(), [])
        await store.set("bob", None)
        self.assertEqual(await store.keys(), [])

    async def test_keyValueFalsyValues(self):
        """
        Values that are false are still values.
        """
        store = self.storage.keyValue("example.org", "s")
        for value in (0, "", [], {}, False):
            await store.set("alice", value)
            self.assertEqual(await store.get("alice"), value)
        self.assertEqual(await store.keys(), ["alice"])

    async def test_keyValueKeysSorted(self):
        store = self.storage.keyValue("example.org", "s")
        for user in ("carol", "alice", "bob", ""):
            await store.set(user, {})
        self.assertEqual(await store.keys(), ["", "alice", "bob", "carol"])

    async def test_keyValueBadValue(self):
        store = self.storage.keyValue("example.org", "s")
        await self.assertFailure(store.set("alice", object()), TypeError)
        await self.assertFailure(store.set("alice", float("nan")), ValueError)
        await self.assertFailure(store.set(42, 1), TypeError)
        await self.assertFailure(store.get(None), TypeError)
        self.assertIsNone(await store.get("alice"))

    def test_badStoreNames(self):
        self.assertRaises(ValueError, self.storage.keyValue, "", "s")
        self.assertRaises(ValueError, self.storage.map, "h", "")
        self.assertRaises(TypeError, self.storage.archive, b"h", "s")

    # Map stores.

    async def test_mapRoundTrip(self):
        store = self.storage.map("example.org", "roster")
        self.assertIsNone(await store.get("alice", "bob@example.org"))
        self.assertEqual(await store.items("alice"), {})
        await store.set("alice", "bob@example.org", {"subscription": "both"})
        await store.set("alice", "carol@example.org", {"subscription": "none"})
        self.assertEqual(await store.get("alice", "bob@example.org"), {"subscription": "both"})
        await store.set("alice", "bob@example.org", {"subscription": "to"})
        self.assertEqual(await store.items("alice"), {
            "bob@example.org": {"subscription": "to"},
            "carol@example.org": {"subscription": "none"}})

    async def test_mapCopies(self):
        store = self.storage.map("example.org", "s")
        value = [1]
        await store.set("alice", "k", value)
        value.append(2)
        (await store.items("alice"))["k"].append(3)
        (await store.get("alice", "k")).append(4)
        self.assertEqual(await store.get("alice", "k"), [1])

    async def test_mapDelete(self):
        store = self.storage.map("example.org", "s")
        await store.set("alice", "k", 1)
        await store.set("alice", "l", 2)
        self.assertIs(await store.delete("alice", "k"), True)
        self.assertIs(await store.delete("alice", "k"), False)
        self.assertIs(await store.delete("bob", "l"), False)
        await store.set("alice", "l", None)
        self.assertEqual(await store.items("alice"), {})

    async def test_mapClear(self):
        store = self.storage.map("example.org", "s")
        await store.set("alice", "k", 1)
        await store.set("alice", "l", 2)
        await store.set("bob", "k", 3)
        await store.clear("alice")
        await store.clear("nobody")
        self.assertEqual(await store.items("alice"), {})
        self.assertEqual(await store.items("bob"), {"k": 3})

    async def test_mapBadArguments(self):
        store = self.storage.map("example.org", "s")
        await self.assertFailure(store.set("alice", 1, 1), TypeError)
        await self.assertFailure(store.set("alice", "k", {1, 2}), TypeError)
        await self.assertFailure(store.items(None), TypeError)

    # Archive stores.

    async def appendSome(self, store, user="alice"):
        """
        Append four items: at times 10, 20, 30, 40, with bob, carol, bob,
        and nobody.

        @return: their ids.
        """
        ids = []
        for when, with_ in ((10, "bob@example.org"), (20, "carol@example.org"),
                            (30, "bob@example.org"), (40, None)):
            ids.append(await store.append(user, b"<message n='%d'/>" % (when,),
                                          with_=with_, when=when))
        return ids

    async def test_archiveAppendQuery(self):
        store = self.storage.archive("example.org", "mam")
        ids = await self.appendSome(store)
        for itemId in ids:
            self.assertIsInstance(itemId, str)
        self.assertEqual([int(i) for i in ids], sorted(int(i) for i in ids))
        self.assertEqual(len(set(ids)), 4)
        items = await store.query("alice")
        self.assertEqual(items[0], ArchiveItem(ids[0], 10.0, "bob@example.org",
                                               b"<message n='10'/>"))
        self.assertEqual([item.id for item in items], ids)
        self.assertEqual([item.when for item in items], [10.0, 20.0, 30.0, 40.0])
        self.assertIsNone(items[3].with_)
        for item in items:
            self.assertIsInstance(item.payload, bytes)
            self.assertIsInstance(item.when, float)

    async def test_archiveAppendNow(self):
        """
        Without C{when}, an item is stamped with the driver's clock.
        """
        store = self.storage.archive("example.org", "offline")
        await store.append("alice", b"<x/>")
        (item,) = await store.query("alice")
        self.assertEqual(item.when, self.now)

    async def test_archiveQueryWith(self):
        store = self.storage.archive("example.org", "mam")
        ids = await self.appendSome(store)
        items = await store.query("alice", with_="bob@example.org")
        self.assertEqual([item.id for item in items], [ids[0], ids[2]])
        self.assertEqual(await store.query("alice", with_="dave@example.org"), [])

    async def test_archiveQueryTime(self):
        """
        C{start} and C{end} are inclusive, as XEP-0313 §4.1.1 asks.
        """
        store = self.storage.archive("example.org", "mam")
        ids = await self.appendSome(store)
        items = await store.query("alice", start=20, end=30)
        self.assertEqual([item.id for item in items], ids[1:3])
        items = await store.query("alice", start=25.5)
        self.assertEqual([item.id for item in items], ids[2:])
        items = await store.query("alice", end=19.99)
        self.assertEqual([item.id for item in items], ids[:1])

    async def test_archiveQueryAfterBefore(self):
        """
        C{after} and C{before} are exclusive ids, for paging (XEP-0059).
        """
        store = self.storage.archive("example.org", "mam")
        ids = await self.appendSome(store)
        items = await store.query("alice", after=ids[0], before=ids[3])
        self.assertEqual([item.id for item in items], ids[1:3])
        items = await store.query("alice", after=ids[3])
        self.assertEqual(items, [])

    async def test_archiveQueryLimitReverse(self):
        store = self.storage.archive("example.org", "mam")
        ids = await self.appendSome(store)
        items = await store.query("alice", limit=2)
        self.assertEqual([item.id for item in items], ids[:2])
        items = await store.query("alice", reverse=True)
        self.assertEqual([item.id for item in items], ids[::-1])
        # The last page: the newest items first.
        items = await store.query("alice", limit=2, reverse=True)
        self.assertEqual([item.id for item in items], [ids[3], ids[2]])
        items = await store.query("alice", before=ids[2], limit=1, reverse=True)
        self.assertEqual([item.id for item in items], [ids[1]])
        self.assertEqual(await store.query("alice", limit=0), [])

    async def test_archiveCountDelete(self):
        store = self.storage.archive("example.org", "offline")
        ids = await self.appendSome(store)
        await self.appendSome(store, "bob")
        self.assertEqual(await store.count("alice"), 4)
        self.assertEqual(await store.delete("alice", [ids[1], ids[3], "999999"]), 2)
        self.assertEqual([item.id for item in await store.query("alice")], [ids[0], ids[2]])
        self.assertEqual(await store.delete("alice"), 2)
        self.assertEqual(await store.count("alice"), 0)
        self.assertEqual(await store.count("bob"), 4)
        self.assertEqual(await store.count("nobody"), 0)

    async def test_mapUsers(self):
        """
        users() lists the users with at least one key, of this store only.
        """
        store = self.storage.map("h", "m")
        self.assertEqual(await store.users(), [])
        await store.set("carol", "k", 1)
        await store.set("alice", "k", 1)
        await store.set("alice", "l", 2)
        await store.set("erin", "k", 1)
        await store.delete("erin", "k")
        await self.storage.map("h", "other").set("bob", "k", 1)
        await self.storage.map("h2", "m").set("dave", "k", 1)
        self.assertEqual(await store.users(), ["alice", "carol"])
        await store.clear("carol")
        self.assertEqual(await store.users(), ["alice"])

    async def test_archiveUsers(self):
        """
        users() lists the users with at least one item, of this store only.
        """
        archive = self.storage.archive("h", "ar")
        self.assertEqual(await archive.users(), [])
        await archive.append("carol", b"<x/>")
        await archive.append("alice", b"<x/>")
        await archive.append("alice", b"<y/>")
        await self.storage.archive("h", "other").append("bob", b"<x/>")
        await self.storage.archive("h2", "ar").append("dave", b"<x/>")
        self.assertEqual(await archive.users(), ["alice", "carol"])
        await archive.delete("carol")
        self.assertEqual(await archive.users(), ["alice"])

    async def test_archiveIdsNotReused(self):
        store = self.storage.archive("example.org", "offline")
        first = await store.append("alice", b"1")
        await store.delete("alice")
        second = await store.append("alice", b"2")
        self.assertGreater(int(second), int(first))

    async def test_archiveBadArguments(self):
        store = self.storage.archive("example.org", "mam")
        await self.assertFailure(store.append("alice", "text"), TypeError)
        await self.assertFailure(store.append("alice", b"x", when="yesterday"), TypeError)
        await self.assertFailure(store.append("alice", b"x", when=float("inf")), ValueError)
        await self.assertFailure(store.query("alice", after="abc"), ValueError)
        await self.assertFailure(store.query("alice", limit=-1), ValueError)
        await self.assertFailure(store.delete("alice", "12"), TypeError)
        await self.assertFailure(store.delete("alice", ["x"]), ValueError)
        self.assertEqual(await store.count("alice"), 0)

    # Isolation.

    async def test_isolation(self):
        """
        The same user in another host or another store sees nothing.
        """
        stores = [self.storage.keyValue(host, name)
                  for host in ("a.example", "b.example") for name in ("one", "two")]
        for n, store in enumerate(stores):
            await store.set("alice", n)
        for n, store in enumerate(stores):
            self.assertEqual(await store.get("alice"), n)
            self.assertEqual(await store.keys(), ["alice"])

        maps = [self.storage.map(host, name)
                for host in ("a.example", "b.example") for name in ("one", "two")]
        await maps[0].set("alice", "k", 1)
        for other in maps[1:]:
            self.assertEqual(await other.items("alice"), {})
        await maps[1].clear("alice")
        self.assertEqual(await maps[0].items("alice"), {"k": 1})

        archives = [self.storage.archive(host, name)
                    for host in ("a.example", "b.example") for name in ("one", "two")]
        await archives[0].append("alice", b"x")
        for other in archives[1:]:
            self.assertEqual(await other.count("alice"), 0)
            await other.delete("alice")
        self.assertEqual(await archives[0].count("alice"), 1)

    async def test_sameStoreTwice(self):
        """
        Two store objects of the same host and name share their data.
        """
        await self.storage.keyValue("h", "s").set("alice", 1)
        self.assertEqual(await self.storage.keyValue("h", "s").get("alice"), 1)


class MemoryStorageTests(StorageTestsMixin, unittest.TestCase):

    now = 1234.5

    def makeStorage(self):
        clock = task.Clock()
        clock.advance(self.now)
        storage = MemoryStorage(clock=clock)
        self.addCleanup(storage.close)
        return storage.open().addCallback(lambda _: storage)

    def test_firesSynchronously(self):
        store = self.storage.keyValue("h", "s")
        self.assertIsNone(self.successResultOf(store.set("alice", 1)))
        self.assertEqual(self.successResultOf(store.get("alice")), 1)
        self.failureResultOf(store.set("alice", object()), TypeError)


class _FrozenReactor:
    """
    The real reactor (for threads), with a fixed clock.
    """

    def __init__(self, now):
        self._now = now

    def __getattr__(self, name):
        return getattr(reactor, name)

    def seconds(self):
        return self._now


class SQLiteStorageTests(StorageTestsMixin, unittest.TestCase):

    now = 1234.5

    def makeStorage(self):
        self.path = os.path.join(self.mktemp(), "data", "xmppframe.sqlite")
        return self.openStorage()

    def openStorage(self, **kwargs):
        storage = SQLiteStorage(self.path, reactor=_FrozenReactor(self.now), **kwargs)
        self.addCleanup(storage.close)
        return storage.open().addCallback(lambda _: storage)

    def test_directoryCreated(self):
        mode = os.stat(os.path.dirname(self.path)).st_mode
        self.assertTrue(stat.S_ISDIR(mode))
        self.assertEqual(stat.S_IMODE(mode) & 0o077, 0)

    def test_pragmas(self):
        def pragmas(cursor):
            return [cursor.execute("PRAGMA %s" % (name,)).fetchone()[0]
                    for name in ("journal_mode", "synchronous", "foreign_keys")]
        d = self.storage.runInteraction(pragmas)
        d.addCallback(self.assertEqual, ["wal", 2, 1])  # 2 is FULL
        return d

    async def test_persistence(self):
        """
        What was written is there after close() and a new open().
        """
        await self.storage.keyValue("h", "kv").set("alice", {"a": 1})
        await self.storage.map("h", "m").set("alice", "k", [1])
        itemId = await self.storage.archive("h", "ar").append(
            "alice", b"\x00\xff<x/>", with_="bob@h", when=5)
        await self.storage.close()

        storage = await self.openStorage()
        self.assertEqual(await storage.keyValue("h", "kv").get("alice"), {"a": 1})
        self.assertEqual(await storage.map("h", "m").items("alice"), {"k": [1]})
        self.assertEqual(await storage.archive("h", "ar").query("alice"),
                         [ArchiveItem(itemId, 5.0, "bob@h", b"\x00\xff<x/>")])

    async def test_smallReadsOnReactorThread(self):
        """
        With no write under way, small reads (a key, a user's map, a page of
        an archive in id order) are answered at once on the reactor thread,
        without the round trip to the database thread.
        """
        await self.storage.keyValue("h", "kv").set("alice", 1)
        await self.storage.map("h", "m").set("alice", "k", 2)
        archive = self.storage.archive("h", "ar")
        itemId = await archive.append("alice", b"<x/>", when=5)
        self.assertEqual(self.successResultOf(self.storage.keyValue("h", "kv").get("alice")), 1)
        self.assertEqual(self.successResultOf(self.storage.map("h", "m").get("alice", "k")), 2)
        self.assertEqual(self.successResultOf(self.storage.map("h", "m").items("alice")),
                         {"k": 2})
        self.assertEqual(self.successResultOf(archive.query("alice", limit=10)),
                         [ArchiveItem(itemId, 5.0, None, b"<x/>")])
        # A time range is sorted after its scan, however long: in the thread.
        timeRange = archive.query("alice", start=1, limit=10)
        self.assertNoResult(timeRange)
        self.assertEqual(len(await timeRange), 1)

    async def test_readAfterPendingWrite(self):
        """
        A read started while a write is under way sees that write: it waits
        behind it in the database thread.
        """
        store = self.storage.keyValue("h", "kv")
        await store.set("alice", 1)
        write = store.set("alice", 2)
        read = store.get("alice")
        self.assertEqual(await read, 2)
        await write
        self.assertEqual(self.successResultOf(store.get("alice")), 2)

    async def test_busyReaderFallsBackToThread(self):
        """
        If the reactor thread's connection finds the database busy, the read
        goes to the database thread instead of waiting or failing.
        """
        await self.storage.map("h", "m").set("alice", "k", 3)
        storage = self.storage

        class BusyConnection:
            def cursor(self):
                raise sqlite3.OperationalError("database is locked")

        reader, storage._reader = storage._reader, BusyConnection()
        self.addCleanup(setattr, storage, "_reader", reader)
        self.assertEqual(await storage.map("h", "m").items("alice"), {"k": 3})

    async def test_readErrorTranslated(self):
        """
        A database error of a read on the reactor thread comes as
        L{StorageError}, as one in the thread does.
        """
        def broken(cursor):
            raise sqlite3.DatabaseError("disk image is malformed")
        await self.assertFailure(self.storage.runRead(broken), StorageError)

    async def test_closeWaitsForPending(self):
        """
        close() lets the operations under way finish; later ones fail.
        """
        store = self.storage.keyValue("h", "s")
        writes = [store.set("user%d" % (n,), n) for n in range(20)]
        await self.storage.close()
        for write in writes:
            self.assertIsNone(await write)
        await self.assertFailure(store.get("user1"), StorageError)

        storage = await self.openStorage()
        self.assertEqual(len(await storage.keyValue("h", "s").keys()), 20)

    def schemaVersion(self):
        connection = sqlite3.connect(self.path)
        try:
            return connection.execute("SELECT version FROM schema_version").fetchall()
        finally:
            connection.close()

    async def test_migrateEmptyFile(self):
        """
        An empty file (as a new database is) gets the whole schema.
        """
        await self.storage.close()
        os.remove(self.path)
        open(self.path, "wb").close()
        storage = await self.openStorage()
        self.assertEqual(self.schemaVersion(), [(SCHEMA_VERSION,)])
        await storage.keyValue("h", "s").set("alice", 1)

    async def test_migrationsInOrder(self):
        """
        Only the migrations a database lacks are applied, in order.
        """
        await self.storage.close()
        applied = []

        def second(cursor):
            applied.append(2)
            cursor.execute("CREATE TABLE extra (x)")

        def third(cursor):
            applied.append(3)
            cursor.execute("INSERT INTO extra VALUES (3)")

        from xmppframe.storage.sqlite import MIGRATIONS
        storage = await self.openStorage(migrations=MIGRATIONS + (second, third))
        self.assertEqual(applied, [2, 3])
        self.assertEqual(self.schemaVersion(), [(SCHEMA_VERSION + 2,)])
        await storage.close()
        await self.openStorage(migrations=MIGRATIONS + (second, third))
        self.assertEqual(applied, [2, 3])

    async def test_failedMigrationRollsBack(self):
        await self.storage.close()

        def broken(cursor):
            cursor.execute("CREATE TABLE extra (x)")
            cursor.execute("THIS IS NOT SQL")

        from xmppframe.storage.sqlite import MIGRATIONS
        storage = SQLiteStorage(self.path, reactor, migrations=MIGRATIONS + (broken,))
        await self.assertFailure(storage.open(), StorageError)
        self.assertEqual(self.schemaVersion(), [(SCHEMA_VERSION,)])
        connection = sqlite3.connect(self.path)
        tables = connection.execute("SELECT name FROM sqlite_master WHERE name = 'extra'")
        self.assertEqual(tables.fetchall(), [])
        connection.close()

    async def test_refuseNewerSchema(self):
        await self.storage.close()
        connection = sqlite3.connect(self.path)
        with connection:
            connection.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
        connection.close()
        storage = SQLiteStorage(self.path, reactor)
        error = await self.assertFailure(storage.open(), SchemaVersionError)
        self.assertIn("newer xmppframe", str(error))
        self.assertEqual(self.schemaVersion(), [(SCHEMA_VERSION + 1,)])
        # The failed driver is not left open.
        await self.assertFailure(storage.keyValue("h", "s").get("a"), StorageError)

    async def test_notADatabase(self):
        path = os.path.join(self.mktemp() + "-other", "junk.sqlite")
        os.makedirs(os.path.dirname(path))
        with open(path, "wb") as f:
            f.write(b"this is not a database" * 100)
        storage = SQLiteStorage(path, reactor)
        error = await self.assertFailure(storage.open(), StorageError)
        self.assertIn(path, str(error))

    async def test_notOpen(self):
        storage = SQLiteStorage(self.path, reactor)
        await self.assertFailure(storage.keyValue("h", "s").keys(), StorageError)
        await storage.close()


class SQLiteFileModeTests(unittest.TestCase):
    """
    The database holds SCRAM keys and message archives: its file, WAL and
    shared-memory files are mode 0600 and the directories made for it 0700,
    whatever the umask; existing files that others may read are tightened
    when the database opens, with one warning saying so.
    """

    def setUp(self):
        self.addCleanup(os.umask, os.umask(0o022))
        self.base = os.path.abspath(self.mktemp())
        self.path = os.path.join(self.base, "data", "xmppframe.sqlite")
        self.events = []
        from twisted.logger import globalLogPublisher
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def mode(self, path):
        return stat.S_IMODE(os.stat(path).st_mode)

    async def openStorage(self):
        storage = SQLiteStorage(self.path, reactor=reactor)
        self.addCleanup(storage.close)
        await storage.open()
        return storage

    def warnings(self):
        from twisted.logger import LogLevel, formatEvent
        return [formatEvent(event) for event in self.events
                if event.get("log_level") == LogLevel.warn
                and event.get("log_namespace", "").startswith("xmppframe.storage")]

    async def test_created(self):
        storage = await self.openStorage()
        await storage.keyValue("h", "kv").set("alice", 1)
        for suffix in ("", "-wal", "-shm"):
            self.assertEqual(self.mode(self.path + suffix), 0o600, suffix)
        for directory in (self.base, os.path.dirname(self.path)):
            self.assertEqual(self.mode(directory), 0o700, directory)
        self.assertEqual(self.warnings(), [])

    async def test_tightened(self):
        """
        A database and WAL that another version (or a copy) left 0644 are
        made 0600 at open, with one warning naming them; an existing
        directory is left as it is.
        """
        os.makedirs(os.path.dirname(self.path), mode=0o755)
        other = sqlite3.connect(self.path)
        self.addCleanup(other.close)
        other.execute("PRAGMA journal_mode=WAL")
        other.execute("CREATE TABLE t (x)")
        other.commit()
        for suffix in ("", "-wal", "-shm"):
            self.assertEqual(self.mode(self.path + suffix), 0o644, suffix)
        storage = await self.openStorage()
        for suffix in ("", "-wal", "-shm"):
            self.assertEqual(self.mode(self.path + suffix), 0o600, suffix)
        self.assertEqual(self.mode(os.path.dirname(self.path)), 0o755)
        [warning] = self.warnings()
        self.assertIn("Made %s, %s-wal, %s-shm readable by their owner only (they were "
                      "0644, 0644, 0644)" % (self.path, self.path, self.path), warning)
        await storage.keyValue("h", "kv").set("alice", 1)
        self.assertEqual(await storage.keyValue("h", "kv").get("alice"), 1)

    async def test_privateAlready(self):
        storage = await self.openStorage()
        await storage.close()
        await self.openStorage()
        self.assertEqual(self.warnings(), [])

    async def test_cannotTighten(self):
        """
        A file whose mode cannot be changed fails the open with a
        L{StorageError} that says so.
        """
        from xmppframe.storage import sqlite

        def tightenModes(paths):
            raise PermissionError(1, "Operation not permitted", paths[0])

        self.patch(sqlite, "tightenModes", tightenModes)
        storage = SQLiteStorage(self.path, reactor=reactor)
        error = await self.assertFailure(storage.open(), StorageError)
        self.assertIn("cannot make the database %s private to its owner" % (self.path,),
                      str(error))


class StorageFromConfigTests(unittest.TestCase):

    def test_memory(self):
        self.assertIsInstance(storageFromConfig("memory", "", reactor), MemoryStorage)

    def test_sqlite(self):
        storage = storageFromConfig("sqlite", "some/file.sqlite", reactor=reactor)
        self.assertIsInstance(storage, SQLiteStorage)
        self.assertEqual(storage.path, "some/file.sqlite")

    def test_sqliteNeedsPath(self):
        self.assertRaises(ValueError, storageFromConfig, "sqlite", "", reactor)

    def test_unknown(self):
        error = self.assertRaises(ValueError, storageFromConfig, "mongodb", "x", reactor)
        self.assertIn("mongodb", str(error))

    def test_drivers(self):
        """
        L{DRIVERS} is the one list of drivers: each builds its own kind of
        storage and says whether it keeps a file and outlives the process.
        """
        self.assertEqual(list(DRIVERS), ["sqlite", "memory"])
        sqlite, memory = DRIVERS["sqlite"], DRIVERS["memory"]
        self.assertEqual((sqlite.name, sqlite.durable, sqlite.usesPath), ("sqlite", True, True))
        self.assertEqual((memory.name, memory.durable, memory.usesPath), ("memory", False, False))
        self.assertIsInstance(sqlite.build("x.sqlite", reactor), SQLiteStorage)
        self.assertIsInstance(memory.build("", reactor), MemoryStorage)
        error = self.assertRaises(ValueError, sqlite.build, "", reactor)
        self.assertEqual(str(error), "storage driver 'sqlite' needs a database path")
        self.assertIn(DEFAULT_DRIVER, DRIVERS)
