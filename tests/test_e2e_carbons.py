"""
End-to-end: Message Carbons (XEP-0280) and Client State Indication
(XEP-0352) with real slixmpp clients against the real server on loopback.
"""

import asyncio

from tests.e2e import ClientTestCase, asDeferred, waitFor
from tests.xmppclient import TestClient


class CarbonsClient(TestClient):
    """
    A test client that enables nothing by itself but can take part in
    Carbons and CSI, and queues the carbons and presence it gets.
    """

    def __init__(self, *args, **kwargs):
        TestClient.__init__(self, *args, **kwargs)
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0297")
        self.register_plugin("xep_0280")
        self.register_plugin("xep_0352")
        self.receivedCarbons = asyncio.Queue()
        self.sentCarbons = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.add_event_handler("carbon_received", self.receivedCarbons.put_nowait)
        self.add_event_handler("carbon_sent", self.sentCarbons.put_nowait)
        self.add_event_handler("presence_available", self.presences.put_nowait)

    async def enableCarbons(self):
        await self.plugin["xep_0280"].enable(timeout=10)


class CarbonsEndToEndTests(ClientTestCase):

    clientClass = CarbonsClient

    def test_discoFeature(self):
        """
        XEP-0280 §3: the server advertises urn:xmpp:carbons:2.
        """
        async def scenario():
            alice = await self.client("alice@localhost/laptop", "wonderland").login()
            if "disco" not in self.server.server.hosts["localhost"].modules:
                self.assertIn("urn:xmpp:carbons:2",
                              self.server.server.hosts["localhost"].features())
                return
            info = await alice.plugin["xep_0030"].get_info(jid="localhost", timeout=10)
            self.assertIn("urn:xmpp:carbons:2", info["disco_info"]["features"])
        return asDeferred(scenario())

    def test_receivedAndSentCarbons(self):
        """
        Alice on two Carbons-enabled resources: Bob's message to her
        laptop reaches her phone as a received carbon (§7), and what her
        phone sends Bob reaches her laptop as a sent carbon (§8).
        """
        async def scenario():
            laptop = await self.client("alice@localhost/laptop", "wonderland").login()
            phone = await self.client("alice@localhost/phone", "wonderland").login()
            bob = await self.client("bob@localhost/desk", "rabbithole").login()
            await laptop.enableCarbons()
            await phone.enableCarbons()

            bob.send_message(mto="alice@localhost/laptop", mbody="Hello laptop", mtype="chat")
            original = await laptop.nextMessage()
            self.assertEqual(original["body"], "Hello laptop")
            carbon = await asyncio.wait_for(phone.receivedCarbons.get(), 10)
            self.assertEqual(str(carbon["from"]), "alice@localhost")
            self.assertEqual(str(carbon["to"]), "alice@localhost/phone")
            inner = carbon["carbon_received"]
            self.assertEqual(inner["body"], "Hello laptop")
            self.assertEqual(str(inner["from"]), "bob@localhost/desk")
            self.assertEqual(str(inner["to"]), "alice@localhost/laptop")

            phone.send_message(mto="bob@localhost/desk", mbody="Hi Bob", mtype="chat")
            reply = await bob.nextMessage()
            self.assertEqual(reply["body"], "Hi Bob")
            sent = await asyncio.wait_for(laptop.sentCarbons.get(), 10)
            self.assertEqual(str(sent["from"]), "alice@localhost")
            inner = sent["carbon_sent"]
            self.assertEqual(inner["body"], "Hi Bob")
            self.assertEqual(str(inner["from"]), "alice@localhost/phone")
            self.assertEqual(str(inner["to"]), "bob@localhost/desk")

            # Nothing else: no copy to the sender, none to the recipient.
            await phone.roundTrip()
            await laptop.roundTrip()
            self.assertTrue(phone.sentCarbons.empty())
            self.assertTrue(laptop.receivedCarbons.empty())
            self.assertTrue(phone.messages.empty())
        return asDeferred(scenario())

    def test_disableAndPrivate(self):
        """
        §5: after disabling, a session gets no more carbons; §9: a private
        message is never copied.
        """
        async def scenario():
            laptop = await self.client("alice@localhost/laptop", "wonderland").login()
            phone = await self.client("alice@localhost/phone", "wonderland").login()
            bob = await self.client("bob@localhost/desk", "rabbithole").login()
            await phone.enableCarbons()

            message = bob.make_message(mto="alice@localhost/laptop", mbody="secret", mtype="chat")
            message.enable("carbon_private")
            message.send()
            self.assertEqual((await laptop.nextMessage())["body"], "secret")

            await phone.plugin["xep_0280"].disable(timeout=10)
            bob.send_message(mto="alice@localhost/laptop", mbody="plain", mtype="chat")
            self.assertEqual((await laptop.nextMessage())["body"], "plain")
            await bob.roundTrip()
            await phone.roundTrip()
            self.assertTrue(phone.receivedCarbons.empty())
        return asDeferred(scenario())

    def test_inactiveClientGetsPresenceWhenActive(self):
        """
        XEP-0352: an inactive client is not sent presence until it says
        it is active again; then it gets the latest.
        """
        async def scenario():
            alice = await self.client("alice@localhost/phone", "wonderland").login()
            bob = await self.client("bob@localhost/desk", "rabbithole").login()
            self.assertTrue(alice.plugin["xep_0352"].enabled)
            while not alice.presences.empty():
                alice.presences.get_nowait()
            alice.plugin["xep_0352"].send_inactive()
            await alice.roundTrip()

            bob.send_presence(pto="alice@localhost/phone", pstatus="first")
            bob.send_presence(pto="alice@localhost/phone", pstatus="latest")
            await bob.roundTrip()
            await asyncio.sleep(0.2)
            self.assertTrue(alice.presences.empty())

            alice.plugin["xep_0352"].send_active()
            presence = await asyncio.wait_for(alice.presences.get(), 10)
            self.assertEqual(str(presence["from"]), "bob@localhost/desk")
            self.assertEqual(presence["status"], "latest")
            await alice.roundTrip()
            self.assertTrue(alice.presences.empty())
        return asDeferred(scenario())
