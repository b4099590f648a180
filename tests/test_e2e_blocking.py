"""
End-to-end: the blocking command (XEP-0191) through the real server, with
real slixmpp clients using slixmpp's own xep_0191 plugin.
"""

import asyncio
import os

from tests.e2e import ClientTestCase, RunningServer, asDeferred, waitFor
from tests.xmppclient import TestClient

BLOCKED = "{urn:xmpp:blocking:errors}blocked"


class BlockingClient(TestClient):
    """
    A test client with slixmpp's XEP-0191 plugin that queues the
    unavailable presences it gets.
    """

    def __init__(self, *args, **kwargs):
        TestClient.__init__(self, *args, **kwargs)
        self.register_plugin("xep_0191")
        self.unavailable = asyncio.Queue()
        self.add_event_handler("presence_unavailable", self.unavailable.put_nowait)


class BlockingTests(ClientTestCase):

    clientClass = BlockingClient

    async def befriend(self):
        """
        Alice and Bob see each other's presence (RFC 6121 §3: 'both'),
        set up through the roster service rather than a subscription
        dialogue, which is not what is tested here.
        """
        host = self.server.server.hosts["localhost"]
        roster = host.modules["roster"]
        parse = self.server.server.router.jids.parse
        await waitFor(roster.updateSubscription("alice", parse("bob@localhost"), subscription="both"))
        await waitFor(roster.updateSubscription("bob", parse("alice@localhost"), subscription="both"))

    def test_blockAndUnblock(self):
        """
        XEP-0191 §3.3: Alice blocks Bob: Bob sees her go unavailable, his
        messages do not reach her (he gets service-unavailable), hers to him
        are refused with not-acceptable and <blocked/>.  §3.4: unblocking
        restores the conversation.
        """
        async def scenario():
            await self.befriend()
            alice = await self.client("alice@localhost/home", "wonderland").login()
            bob = await self.client("bob@localhost/phone", "rabbithole").login()
            blocking = alice.plugin["xep_0191"]
            self.assertEqual(await blocking.get_blocked_jids(timeout=10), set())

            await blocking.block("bob@localhost", timeout=10)
            self.assertEqual({str(j) for j in await blocking.get_blocked_jids(timeout=10)},
                             {"bob@localhost"})
            gone = await asyncio.wait_for(bob.unavailable.get(), 10)
            self.assertEqual(str(gone["from"]), "alice@localhost/home")

            bob.send_message(mto="alice@localhost", mbody="Can you hear me?", mtype="chat")
            error = await bob.nextError()
            self.assertEqual(error["error"]["condition"], "service-unavailable")
            alice.send_message(mto="bob@localhost", mbody="Can you hear me now?", mtype="chat")
            error = await alice.nextError()
            self.assertEqual(error["error"]["condition"], "not-acceptable")
            self.assertIsNotNone(error.xml.find(".//" + BLOCKED))
            await alice.roundTrip()
            self.assertTrue(alice.messages.empty())
            self.assertTrue(bob.messages.empty())

            await blocking.unblock("bob@localhost", timeout=10)
            self.assertEqual(await blocking.get_blocked_jids(timeout=10), set())
            bob.send_message(mto="alice@localhost", mbody="Hello again", mtype="chat")
            self.assertEqual((await alice.nextMessage())["body"], "Hello again")
            alice.send_message(mto="bob@localhost", mbody="Welcome back", mtype="chat")
            self.assertEqual((await bob.nextMessage())["body"], "Welcome back")
        return asDeferred(scenario())

    def test_blockPushedToOtherResource(self):
        """
        §3.3: another resource that requested the blocklist gets the push.
        """
        async def scenario():
            home = await self.client("alice@localhost/home", "wonderland").login()
            laptop = await self.client("alice@localhost/laptop", "wonderland").login()
            pushed = asyncio.get_event_loop().create_future()
            laptop.add_event_handler(
                "blocked", lambda iq: pushed.done() or pushed.set_result(iq))
            await laptop.plugin["xep_0191"].get_blocked_jids(timeout=10)
            await home.plugin["xep_0191"].block(["eve@localhost", "mallory@localhost"], timeout=10)
            iq = await asyncio.wait_for(pushed, 10)
            self.assertEqual({item["jid"] for item in iq["block"]},
                             {"eve@localhost", "mallory@localhost"})
        return asDeferred(scenario())

    def test_blocklistSurvivesRestart(self):
        """
        A blocklist stored with the SQLite driver still applies on a new
        server started on the same data directory: the privacy module
        lists the accounts that have lists when it loads, and reads those
        accounts' lists at their next login.
        """
        async def scenario():
            dataDir = os.path.abspath(self.mktemp())
            first = await RunningServer.start(self, storage="sqlite", dataDir=dataDir)
            for jid, password in self.accounts:
                await first.addUser(jid, password)
            alice = await self.client("alice@localhost/home", "wonderland", server=first).login()
            await alice.plugin["xep_0191"].block("bob@localhost", timeout=10)
            await self.closeClients()
            await waitFor(first.service.stopService())

            second = await RunningServer.start(self, storage="sqlite", dataDir=dataDir)
            alice = await self.client("alice@localhost/home", "wonderland", server=second).login()
            self.assertEqual({str(j) for j in await alice.plugin["xep_0191"].get_blocked_jids(
                timeout=10)}, {"bob@localhost"})
            bob = await self.client("bob@localhost/phone", "rabbithole", server=second).login()
            bob.send_message(mto="alice@localhost", mbody="Still there?", mtype="chat")
            error = await bob.nextError()
            self.assertEqual(error["error"]["condition"], "service-unavailable")
            # Bob, who never stored a list, logged in without one.
            self.assertEqual(await bob.plugin["xep_0191"].get_blocked_jids(timeout=10), set())
        return asDeferred(scenario())
