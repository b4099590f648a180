"""
Storage that disappears or breaks is never silent (issue 15), tried as an
operator would: the real C{twistd -n xmppframe} and the real admin command
in subprocesses, on a SQLite database that is deleted, truncated to zero
bytes, or has a page overwritten.
"""

import asyncio
import os
import sqlite3
import subprocess
import sys

from twisted.internet import defer, reactor

from tests.e2e import asDeferred
from tests.test_acceptance import ROOT, TWISTD, TwistdTestCase
from tests.xmppclient import TestClient

#: How many accounts the damaged database has, each with a roster.
ACCOUNTS = 60
CONTACTS = 20


class StorageTestCase(TwistdTestCase):

    timeout = 180

    def setUp(self):
        TwistdTestCase.setUp(self)
        self.database = os.path.join(self.directory, "data", "xmppframe.sqlite")
        self.record = os.path.join(self.directory, "data", "installation.json")

    async def firstStart(self):
        """
        Start the server on an empty data directory, make an account, and
        stop it.
        """
        self.server.start()
        await self.server.waitUntilListening()
        result = self.server.admin("user", "add", "alice@localhost", stdin="wonderland\n")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.server.stop()

    def serve(self):
        """
        Start the server again and wait for it to exit.

        @return: C{(status, log)}.
        """
        self.server.start()
        status = self.server.process.wait(60)
        return status, self.server.logText()

    def goneLine(self, state):
        return ("config error: storage.path: the database %s %s, but %s says this data "
                "directory had it" % (self.database, state, self.record))


class DisappearedDatabaseTests(StorageTestCase):
    """
    After a first start, a deleted or truncated database stops the next
    start with one line naming it, and nothing is created in its place;
    C{config check} says the same; C{storage init} makes a new one on
    purpose and the server then starts.
    """

    def test_firstStartSaysCreated(self):
        async def scenario():
            self.server.start()
            await self.server.waitUntilListening()
            self.server.stop()
            log = self.server.logText()
            self.assertEqual(log.count("Created the database %s" % (self.database,)), 1, log)
            self.assertNotIn("Migrated", log)
            self.assertTrue(os.path.exists(self.record))
            self.assertEqual(os.stat(self.record).st_mode & 0o777, 0o600)
            # A second start opens it: nothing is created.
            self.server.start()
            await self.server.waitUntilListening()
            self.server.stop()
            self.assertEqual(self.server.logText().count("Created the database"), 1)
        return asDeferred(scenario())

    def afterFirstStart(self, damage, state):
        async def scenario():
            await self.firstStart()
            damage()
            self.refusedServe(state)
            listed = self.server.admin("user", "list")
            self.assertEqual(listed.returncode, 1)
            self.assertIn(self.database, listed.stderr)
            # storage init starts over, on purpose, and says so.
            init = self.server.admin("storage", "init")
            self.assertEqual(init.returncode, 0, init.stderr)
            self.assertIn("created a new, empty database %s" % (self.database,), init.stdout)
            self.server.start()
            await self.server.waitUntilListening()
            listed = self.server.admin("user", "list")
            self.assertEqual((listed.returncode, listed.stdout), (0, ""), listed.stderr)
        return asDeferred(scenario())

    def refusedServe(self, state):
        """
        The server exits with 1 and one line on standard error; it has
        created no database, and logged nothing.
        """
        before = os.path.getsize(self.database) if os.path.exists(self.database) else None
        result = subprocess.run(
            [sys.executable, "-c", TWISTD, "-n", "--pidfile=", "--logfile",
             os.path.join(self.directory, "refused.log"), "xmppframe", "--config",
             self.server.config],
            cwd=self.directory, env=dict(os.environ, PYTHONPATH=ROOT),
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(result.stderr.count("\n"), 1, result.stderr)
        self.assertTrue(result.stderr.startswith(self.goneLine(state)), result.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.directory, "refused.log")))
        after = os.path.getsize(self.database) if os.path.exists(self.database) else None
        self.assertEqual(after, before)
        check = self.server.admin("config", "check")
        self.assertEqual((check.returncode, check.stdout, check.stderr), (1, "", result.stderr))

    def test_deleted(self):
        def delete():
            for name in os.listdir(os.path.dirname(self.database)):
                if name.startswith("xmppframe.sqlite"):
                    os.remove(os.path.join(os.path.dirname(self.database), name))
        return self.afterFirstStart(delete, "is missing")

    def test_truncated(self):
        def truncate():
            with open(self.database, "r+b") as f:
                f.truncate(0)
            for suffix in ("-wal", "-shm"):
                if os.path.exists(self.database + suffix):
                    os.remove(self.database + suffix)
        return self.afterFirstStart(truncate, "is empty (0 bytes)")


def populate(path):
    """
    Fill the database at C{path} with L{ACCOUNTS} accounts, each with a
    roster of L{CONTACTS} contacts, through the storage layer.
    """
    from xmppframe.auth import StorageAuthProvider
    from xmppframe.storage.sqlite import SQLiteStorage

    async def fill():
        storage = SQLiteStorage(path, reactor)
        await storage.open()
        try:
            auth = StorageAuthProvider(storage, "localhost", 4096, reactor=reactor)
            roster = storage.map("localhost", "roster")
            for number in range(ACCOUNTS):
                user = "user%02d" % (number,)
                await auth.createUser(user, "password%02d" % (number,))
                for contact in range(CONTACTS):
                    await roster.set(user, "contact%02d@localhost" % (contact,), {
                        "name": "Contact %d of %s, with a longer name" % (contact, user),
                        "groups": ["Friends"], "subscription": "both", "ask": False,
                        "approved": False, "ver": contact + 1})
        finally:
            await storage.close()
    return defer.ensureDeferred(fill())


def damage(path):
    """
    Overwrite most of a page in the middle of the database file.
    """
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek((size // 2) // 4096 * 4096 + 100)
        f.write(b"\xa5" * 3000)


class DamagedDatabaseTests(StorageTestCase):
    """
    A damaged page in a database with accounts and rosters: the start
    fails with one line naming the file, and no CRITICAL traceback.
    """

    def test_damagedAtStart(self):
        async def scenario():
            await self.firstStart()
            await populate(self.database).asFuture(asyncio.get_event_loop())
            damage(self.database)
            status, log = self.serve()
            self.assertEqual(status, 1, log)
            lines = [line for line in log.splitlines() if "could not start" in line]
            self.assertEqual(len(lines), 1, log)
            self.assertIn("xmppframe could not start: storage.path: the database %s is "
                          "damaged" % (self.database,), lines[0])
            self.assertIn("restore the file from a backup", lines[0])
            self.assertNotIn("Traceback", log)
            self.assertNotIn("#critical", log)
        return asDeferred(scenario())

    def test_damagedWhileRunning(self):
        """
        The page holding one account's roster damaged under a running
        server: that account's roster requests fail, others are served, and
        the log has one critical line about it and no traceback.
        """
        async def scenario():
            await self.firstStart()
            await populate(self.database).asFuture(asyncio.get_event_loop())
            self.server.start()
            await self.server.waitUntilListening()
            victim, page = damageRosterOf(self.database, "user30")
            with open(self.database, "rb") as f:
                f.seek(page * 4096)
                damaged = f.read(4096)
            healthy = next(number for number in range(ACCOUNTS)
                           if ("of user%02d," % (number,)).encode() not in damaged)
            for user in (victim, "user%02d" % (healthy,), victim):
                client = TestClient(user + "@localhost/desk", "password" + user[4:],
                                    self.server)
                try:
                    await client.login(presence=False)
                    try:
                        roster = await asyncio.wait_for(client.get_roster(), 5)
                    except Exception:
                        roster = None
                    if user != victim:
                        self.assertEqual(len(roster["roster"]["items"]), CONTACTS)
                finally:
                    await client.close()
            self.server.stop()
            log = self.server.logText()
            lines = [line for line in log.splitlines()
                     if "The database %s is damaged" % (self.database,) in line]
            self.assertEqual(len(lines), 1, log)
            self.assertIn("#critical]", lines[0])
            self.assertNotIn("Traceback", log)
            self.assertIn("the database is damaged (see the critical line", log)
        return asDeferred(scenario())


def damageRosterOf(path, user):
    """
    Overwrite the header of the page that holds C{user}'s roster items.

    @return: C{(user, page number)}.
    """
    with open(path, "rb") as f:
        data = f.read()
    offset = data.index(("of %s, with" % (user,)).encode())
    page = offset // 4096
    with open(path, "r+b") as f:
        f.seek(page * 4096)
        f.write(b"\xa5" * 64)
        f.flush()
        os.fsync(f.fileno())
    return user, page
