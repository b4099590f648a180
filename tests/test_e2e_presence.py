"""
End-to-end: presence subscriptions (RFC 6121 §3) and presence (§4) between
real slixmpp clients and the real server on loopback, with the roster,
presence and subscription modules loaded by default.
"""

import asyncio

from tests.e2e import ClientTestCase, asDeferred, waitFor
from tests.xmppclient import TestClient


class PresenceClient(TestClient):
    """
    A L{TestClient} that keeps every presence stanza it receives and
    answers no subscription request by itself (slixmpp approves them by
    default), so that the test decides.
    """

    def __init__(self, *args, **kwargs):
        TestClient.__init__(self, *args, **kwargs)
        self.auto_authorize = None
        self.auto_subscribe = False
        self.presences = asyncio.Queue()
        self.add_event_handler("presence", self.presences.put_nowait)

    async def nextPresence(self, type=None, sender=None, timeout=10):
        """
        The next presence stanza received with the 'type' attribute C{type}
        (C{None}: available) from C{sender}, skipping any other.
        """
        while True:
            presence = await asyncio.wait_for(self.presences.get(), timeout)
            if presence.xml.get("type") != type:
                continue
            if sender is not None and str(presence["from"]) != sender:
                continue
            return presence

    def skipPresences(self):
        while not self.presences.empty():
            self.presences.get_nowait()


class PresenceEndToEndTests(ClientTestCase):

    clientClass = PresenceClient

    @property
    def roster(self):
        return self.server.server.hosts["localhost"].modules["roster"]

    async def subscription(self, user, contact):
        item = await waitFor(self.roster.getItem(user, contact))
        return None if item is None else (item.subscription, item.ask)

    async def befriend(self):
        """
        A mutual subscription between alice and bob, written straight into
        both rosters.
        """
        await waitFor(self.roster.updateSubscription("alice", "bob@localhost", "both"))
        await waitFor(self.roster.updateSubscription("bob", "alice@localhost", "both"))

    def test_subscriptionHandshake(self):
        """
        RFC 6121 §3.1: alice asks, bob approves, then the other way round;
        each approval is followed by the approver's presence (§3.1.5), and
        both rosters end with 'both'.
        """
        async def scenario():
            alice = await self.client("alice@localhost/home", "wonderland").login()
            bob = await self.client("bob@localhost/phone", "rabbithole").login()
            alice.send_presence(pto="bob@localhost", ptype="subscribe")
            request = await bob.nextPresence("subscribe", "alice@localhost")
            self.assertEqual(str(request["to"]), "bob@localhost")
            self.assertEqual(await self.subscription("alice", "bob@localhost"), ("none", True))
            bob.send_presence(pto="alice@localhost", ptype="subscribed")
            await alice.nextPresence("subscribed", "bob@localhost")
            await alice.nextPresence(None, "bob@localhost/phone")
            self.assertEqual(await self.subscription("alice", "bob@localhost"), ("to", False))
            self.assertEqual(await self.subscription("bob", "alice@localhost"), ("from", False))
            bob.send_presence(pto="alice@localhost", ptype="subscribe")
            await alice.nextPresence("subscribe", "bob@localhost")
            alice.send_presence(pto="bob@localhost", ptype="subscribed")
            await bob.nextPresence("subscribed", "alice@localhost")
            await bob.nextPresence(None, "alice@localhost/home")
            await alice.roundTrip()
            await bob.roundTrip()
            self.assertEqual(await self.subscription("alice", "bob@localhost"), ("both", False))
            self.assertEqual(await self.subscription("bob", "alice@localhost"), ("both", False))
        return asDeferred(scenario())

    def test_requestToOfflineContact(self):
        """
        §3.1.3 rule 4: a request to an offline account is delivered when
        it next becomes available, and again at each login until answered.
        """
        async def scenario():
            alice = await self.client("alice@localhost/home", "wonderland").login()
            alice.send_presence(pto="bob@localhost", ptype="subscribe", pstatus="It's Alice")
            await alice.roundTrip()
            bob = await self.client("bob@localhost/phone", "rabbithole").login()
            request = await bob.nextPresence("subscribe", "alice@localhost")
            self.assertEqual(request["status"], "It's Alice")
            await bob.close()
            bob = await self.client("bob@localhost/tablet", "rabbithole").login()
            await bob.nextPresence("subscribe", "alice@localhost")
            bob.send_presence(pto="alice@localhost", ptype="subscribed")
            await alice.nextPresence("subscribed", "bob@localhost")
            await bob.close()
            bob = await self.client("bob@localhost/phone", "rabbithole").login()
            await bob.roundTrip()
            self.assertNotIn("subscribe", [p.xml.get("type") for p in
                                           [bob.presences.get_nowait()
                                            for _ in range(bob.presences.qsize())]])
        return asDeferred(scenario())

    def test_probeAndBroadcast(self):
        """
        §4.2.2 and §4.3.2: bob, logging in after alice, learns she is online
        (the answer to his server's probe); alice sees bob come online and
        change his status (§4.4.2).
        """
        async def scenario():
            await self.befriend()
            alice = await self.client("alice@localhost/home", "wonderland").login()
            bob = self.client("bob@localhost/phone", "rabbithole")
            await bob.login()
            await bob.nextPresence(None, "alice@localhost/home")
            await alice.nextPresence(None, "bob@localhost/phone")
            bob.send_presence(pshow="away", pstatus="Down the hole")
            update = await alice.nextPresence(None, "bob@localhost/phone")
            self.assertEqual(update["show"], "away")
            self.assertEqual(update["status"], "Down the hole")
        return asDeferred(scenario())

    def test_unavailableOnDroppedConnection(self):
        """
        §4.5.2: when bob's TCP connection drops without a closing stream
        tag, his server tells alice he is unavailable.
        """
        async def scenario():
            await self.befriend()
            alice = await self.client("alice@localhost/home", "wonderland").login()
            bob = await self.client("bob@localhost/phone", "rabbithole").login()
            await alice.nextPresence(None, "bob@localhost/phone")
            bob.abort()
            await alice.nextPresence("unavailable", "bob@localhost/phone")
        return asDeferred(scenario())

    def test_gracefulUnavailable(self):
        """
        §4.5.2: unavailable presence from the client reaches the subscriber
        with its status.
        """
        async def scenario():
            await self.befriend()
            alice = await self.client("alice@localhost/home", "wonderland").login()
            bob = await self.client("bob@localhost/phone", "rabbithole").login()
            await alice.nextPresence(None, "bob@localhost/phone")
            bob.send_presence(ptype="unavailable", pstatus="Off to tea")
            gone = await alice.nextPresence("unavailable", "bob@localhost/phone")
            self.assertEqual(gone["status"], "Off to tea")
        return asDeferred(scenario())
