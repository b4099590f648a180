"""
The data directory's record of its database (L{xmppframe.installation}),
the SQLite driver's answers to a created, missing and damaged database,
and the module logger's one line for a failure already explained.
"""

import json
import os
import sqlite3

from twisted.internet import reactor
from twisted.logger import LogLevel, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial import unittest

from xmppframe import installation
from xmppframe.api.module import ModuleLogger
from xmppframe.config import parseConfig
from xmppframe.preflight import findProblems
from xmppframe.storage import DatabaseDamaged, StorageError
from xmppframe.storage.sqlite import SQLiteStorage


class RecordTests(unittest.TestCase):

    def setUp(self):
        self.base = os.path.abspath(self.mktemp())
        os.makedirs(self.base)
        self.config = parseConfig({"data_dir": "data"}, self.base)
        self.database = self.config.storage.path

    def makeDatabase(self, data=b"SQLite format 3\x00" + b"\x00" * 100):
        os.makedirs(self.config.data_dir, exist_ok=True)
        with open(self.database, "wb") as f:
            f.write(data)

    def test_firstStart(self):
        """
        No record: nothing to refuse, whether or not there is a database.
        """
        self.assertIsNone(installation.missingDatabaseProblem(self.config))
        self.assertEqual(findProblems(self.config), [])

    def test_recordWritten(self):
        self.makeDatabase()
        self.assertTrue(installation.recordDatabase(self.config, created=True))
        path = installation.recordPath(self.config.data_dir)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        with open(path) as f:
            record = json.load(f)
        self.assertEqual(record["database"], self.database)
        self.assertRegex(record["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        # Opened again: the record stays as it is.
        self.assertFalse(installation.recordDatabase(self.config))

    def test_missingAfterRecord(self):
        self.makeDatabase()
        installation.recordDatabase(self.config, created=True)
        os.remove(self.database)
        problem = installation.missingDatabaseProblem(self.config)
        self.assertTrue(problem.startswith(
            "storage.path: the database %s is missing, but %s says this data directory "
            "had it (created " % (self.database, installation.recordPath(
                self.config.data_dir))), problem)
        self.assertIn("'xmppframe storage init'", problem)
        self.assertEqual(findProblems(self.config), [problem])

    def test_emptyCountsAsMissing(self):
        self.makeDatabase()
        installation.recordDatabase(self.config, created=True)
        self.makeDatabase(b"")
        self.assertTrue(installation.isMissing(self.database))
        self.assertIn("is empty (0 bytes)", installation.missingDatabaseProblem(self.config))

    def test_recordOfAnotherFile(self):
        """
        A record naming another database: the line names it too.
        """
        installation.writeRecord(self.config.data_dir, "/elsewhere/old.sqlite")
        problem = installation.missingDatabaseProblem(self.config)
        self.assertIn("had the database /elsewhere/old.sqlite (created ", problem)
        self.assertIn("set storage.path to where it is", problem)

    def test_unreadableRecord(self):
        """
        A record that cannot be decoded still says there was an installation.
        """
        os.makedirs(self.config.data_dir)
        with open(installation.recordPath(self.config.data_dir), "w") as f:
            f.write("{not json")
        self.assertIn("is missing", installation.missingDatabaseProblem(self.config))

    def test_memoryDriver(self):
        config = parseConfig({"data_dir": "data", "storage": {"driver": "memory"}}, self.base)
        installation.writeRecord(config.data_dir, self.database)
        self.assertIsNone(installation.missingDatabaseProblem(config))
        self.assertFalse(installation.recordDatabase(config))


class SQLiteCreatedAndDamagedTests(unittest.TestCase):

    def setUp(self):
        self.path = os.path.join(os.path.abspath(self.mktemp()), "xmppframe.sqlite")
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    async def open(self):
        storage = SQLiteStorage(self.path, reactor=reactor)
        self.addCleanup(storage.close)
        await storage.open()
        return storage

    def messages(self, level=None):
        from twisted.logger import formatEvent
        return [formatEvent(e) for e in self.events
                if e.get("log_namespace", "").startswith("xmppframe.storage")
                and (level is None or e.get("log_level") == level)]

    async def test_createdSaysSo(self):
        storage = await self.open()
        self.assertTrue(storage.created)
        self.assertEqual(self.messages(), ["Created the database %s (schema version 1)"
                                           % (self.path,)])
        await storage.close()
        storage = await self.open()
        self.assertFalse(storage.created)
        self.assertEqual(len(self.messages()), 1)

    async def test_emptyFileIsCreated(self):
        os.makedirs(os.path.dirname(self.path))
        open(self.path, "wb").close()
        storage = await self.open()
        self.assertTrue(storage.created)

    async def fill(self):
        storage = await self.open()
        store = storage.map("h", "m")
        for i in range(400):
            await store.set("user%03d" % (i,), "k", "x" * 200)
        await storage.close()
        connection = sqlite3.connect(self.path)
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()

    def damage(self):
        size = os.path.getsize(self.path)
        with open(self.path, "r+b") as f:
            f.seek((size // 2) // 4096 * 4096 + 100)
            f.write(b"\xa5" * 3000)

    async def test_damagedAtOpen(self):
        """
        The open's check finds the damaged page: L{DatabaseDamaged}, one
        line naming the file; nothing logged (the caller says it).
        """
        await self.fill()
        self.damage()
        del self.events[:]
        storage = SQLiteStorage(self.path, reactor=reactor)
        error = await self.assertFailure(storage.open(), DatabaseDamaged)
        self.assertIsInstance(error, StorageError)
        self.assertTrue(str(error).startswith(
            "the database %s is damaged (SQLite's check at open: " % (self.path,)), error)
        self.assertTrue(str(error).endswith("restore the file from a backup"))
        self.assertNotIn("\n", str(error))
        self.assertEqual(self.messages(), [])

    async def test_notADatabase(self):
        os.makedirs(os.path.dirname(self.path))
        with open(self.path, "wb") as f:
            f.write(b"hello world" * 1000)
        error = await self.assertFailure(SQLiteStorage(self.path, reactor).open(),
                                         DatabaseDamaged)
        self.assertIn("file is not a database", str(error))

    async def test_damagedWhileOpen(self):
        """
        Damage found by requests after the open: each fails with
        L{DatabaseDamaged}; the first is logged once, as one critical line.
        """
        await self.fill()
        storage = await self.open()
        self.damage()
        store = storage.map("h", "m")
        failures = 0
        for i in range(400):
            try:
                await store.get("user%03d" % (i,), "k")
            except DatabaseDamaged:
                failures += 1
        self.assertGreater(failures, 0)
        critical = self.messages(LogLevel.critical)
        self.assertEqual(len(critical), 1, critical)
        self.assertIn("The database %s is damaged (SQLite: " % (self.path,), critical[0])


class ModuleLoggerTests(unittest.TestCase):

    def setUp(self):
        self.events = []
        self.log = ModuleLogger(namespace="xmppframe.modules.test",
                                observer=self.events.append)

    def test_explained(self):
        self.log.failure("could not load the roster of {user}",
                         Failure(DatabaseDamaged("the database x is damaged")), user="alice")
        [event] = self.events
        self.assertNotIn("log_failure", event)
        self.assertEqual(event["log_level"], LogLevel.error)
        from twisted.logger import formatEvent
        self.assertEqual(formatEvent(event), "could not load the roster of alice: "
                         + DatabaseDamaged.explained)

    def test_other(self):
        try:
            1 / 0
        except ZeroDivisionError:
            self.log.failure("it failed")
        [event] = self.events
        self.assertIsInstance(event["log_failure"].value, ZeroDivisionError)
        self.assertEqual(event["log_level"], LogLevel.critical)
