"""
End-to-end account removal: the real server on SQLite, slixmpp clients.
Bob has a roster, an archive, a vCard, private XML, a blocklist, an offline
message and a last-activity record; he is removed in band (XEP-0077 §3.2)
or with C{xmppframe user delete} while the server is stopped.  Afterwards
nothing of his is left in the database, his contacts were told, his live
session was closed with C{not-authorized}, and a new bob starts empty.
"""

import asyncio
import io
import os
import sqlite3
import xml.etree.ElementTree as ElementTree

from twisted.internet import reactor

from xmppframe import cli

from tests.e2e import ClientTestCase, RunningServer, asDeferred, waitFor
from tests.xmppclient import TestClient

ALICE = ("alice@localhost", "wonderland")
BOB = ("bob@localhost", "rabbithole")


def leftovers(databasePath, user):
    """
    Every (table, store) of the database that still holds data of C{user}:
    whatever module wrote it, no store is named here.
    """
    connection = sqlite3.connect(databasePath)
    try:
        rows = set()
        for table in ("kv", "map", "archive"):
            for (store,) in connection.execute(
                    "SELECT DISTINCT store FROM %s WHERE user = ?" % (table,), (user,)):
                rows.add((table, store))
        return sorted(rows)
    finally:
        connection.close()


class Watcher(TestClient):
    """
    A client that records the presence stanzas it receives.
    """

    def __init__(self, *args, **kwargs):
        TestClient.__init__(self, *args, **kwargs)
        self.presences = []
        self.add_event_handler("presence", lambda p: self.presences.append(
            (p["from"].bare, p["type"])))


async def setIQ(client, payload):
    iq = client.Iq()
    iq["type"] = "set"
    iq.append(ElementTree.fromstring(payload))
    await iq.send(timeout=10)


class AccountRemovalTests(ClientTestCase):

    timeout = 120
    accounts = (ALICE, BOB)
    storage = "sqlite"
    clientClass = Watcher

    @property
    def database(self):
        return self.server.server.storage.path

    async def populate(self):
        """
        Give bob everything an account can own, with alice as his mutual
        contact: @return: alice's and bob's connected clients.
        """
        alice = await self.client(*ALICE).login()
        alice.send_message(mto="bob@localhost", mbody="while you were out", mtype="chat")
        await alice.roundTrip()
        # Bob logs in and out once: an offline message delivered, a last
        # activity stored.
        first = await self.client("bob@localhost/first", BOB[1]).login()
        await first.nextMessage()
        await first.close()
        alice.send_message(mto="bob@localhost", mbody="kept for later", mtype="normal")
        await alice.roundTrip()
        bob = await self.client("bob@localhost/phone", BOB[1], plugins=("xep_0077",)).login()
        await bob.nextMessage()
        # slixmpp approves and subscribes back: a mutual subscription.
        bob.send_presence(pto="alice@localhost", ptype="subscribe")
        for _ in range(50):
            items = await waitFor(self.roster().getItems("alice"))
            if items and items[0].subscribedTo and items[0].subscribedFrom:
                break
            await asyncio.sleep(0.1)
        await setIQ(bob, "<vCard xmlns='vcard-temp'><FN>Bob</FN></vCard>")
        await setIQ(bob, "<query xmlns='jabber:iq:private'>"
                         "<notes xmlns='http://example.org/notes'>x</notes></query>")
        await setIQ(bob, "<block xmlns='urn:xmpp:blocking'>"
                         "<item jid='mallory@example.net'/></block>")
        for n in range(6):
            sender, recipient = (alice, bob) if n % 2 == 0 else (bob, alice)
            sender.send_message(mto=recipient.boundjid.bare, mbody="m%d" % (n,), mtype="chat")
            await recipient.nextMessage()
        await alice.roundTrip()
        await bob.roundTrip()
        return alice, bob

    def roster(self):
        from xmppframe.interfaces import IRoster
        return self.server.server.hosts["localhost"].services.get(IRoster)

    async def assertNewBobStartsEmpty(self):
        await self.server.addUser(*BOB)
        bob = await self.client("bob@localhost/again", BOB[1]).login()
        roster = await bob.get_roster()
        self.assertEqual(list(roster["roster"]["items"]), [])
        archive = self.server.server.storage.archive("localhost", "archive")
        self.assertEqual(await waitFor(archive.count("bob")), 0)

    def test_inBand(self):
        """
        XEP-0077 §3.2: everything goes, alice is told (RFC 6121 §3.2.2,
        §3.3.2), bob's session ends with not-authorized and gets nothing
        more.
        """
        async def scenario():
            alice, bob = await self.populate()
            self.assertIn(("kv", "vcard"), leftovers(self.database, "bob"))
            del alice.presences[:]
            await bob.plugin["xep_0077"].cancel_registration()
            error = await bob.nextStreamError()
            self.assertEqual(error["condition"], "not-authorized")
            await alice.roundTrip()
            # The client cannot see the cleanup end (its stream is closed
            # first): the database can.
            for _ in range(100):
                if not leftovers(self.database, "bob"):
                    break
                await asyncio.sleep(0.05)
            self.assertEqual(leftovers(self.database, "bob"), [])
            await alice.roundTrip()
            told = [type for sender, type in alice.presences if sender == "bob@localhost"]
            self.assertIn("unavailable", told)
            self.assertIn("unsubscribe", told)
            self.assertIn("unsubscribed", told)
            self.assertLess(told.index("unavailable"), told.index("unsubscribed"))
            bare = self.server.server.router.jids.parse("bob@localhost")
            self.assertEqual(self.server.server.sessions.sessionsFor(bare), ())
            alice.send_message(mto="bob@localhost/phone", mbody="still there?", mtype="chat")
            error = await alice.nextError()
            self.assertEqual(error["error"]["condition"], "service-unavailable")
            self.assertTrue(bob.messages.empty())
            [item] = await waitFor(self.roster().getItems("alice"))
            self.assertEqual((item.subscribedTo, item.subscribedFrom), (False, False))
            await self.assertNewBobStartsEmpty()
        return asDeferred(scenario())

    def test_adminCommand(self):
        """
        C{xmppframe user delete} with the server stopped runs the same
        cascade: nothing of bob is left, alice's subscriptions with him are
        cancelled, and a new bob starts empty.
        """
        async def scenario():
            await self.populate()
            await self.closeClients()
            dataDir = self.server.dataDir
            database = self.database
            await waitFor(self.server.service.stopService())
            configPath = os.path.join(dataDir, "xmppframe.toml")
            with open(configPath, "w") as f:
                f.write('data_dir = "%s"\n[storage]\ndriver = "sqlite"\npath = "%s"\n'
                        '[hosts."localhost"]\n' % (dataDir, database))
            self.assertNotEqual(leftovers(database, "bob"), [])
            console = cli.Console(io.StringIO(), io.StringIO(), io.StringIO())
            status = await waitFor(cli.run(
                ["--config", configPath, "user", "delete", "bob@localhost"], reactor, console))
            self.assertEqual((status, console.stdout.getvalue(), console.stderr.getvalue()),
                             (0, "deleted bob@localhost\n", ""))
            self.assertEqual(leftovers(database, "bob"), [])
            self.server = await RunningServer.start(self, storage="sqlite", dataDir=dataDir)
            [item] = await waitFor(self.roster().getItems("alice"))
            self.assertEqual((item.subscribedTo, item.subscribedFrom), (False, False))
            await self.assertNewBobStartsEmpty()
        return asDeferred(scenario())
