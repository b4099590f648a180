"""
End-to-end: offline messages (XEP-0160) through the real server and real
slixmpp clients, with XEP-0203 delay stamps, and across a restart of the
server on the same SQLite database.
"""

import asyncio
import os

from tests.e2e import ClientTestCase, RunningServer, asDeferred, waitFor


class OfflineMessagesTests(ClientTestCase):

    # XEP-0203, so that msg['delay'] reads the delay element.
    clientPlugins = ("xep_0203",)

    async def setUpServer(self):
        """
        No server: each test starts its own, some of them twice.
        """

    async def startServer(self, storage="memory", dataDir=None, newUsers=True):
        server = await RunningServer.start(self, storage=storage, dataDir=dataDir)
        if newUsers:
            await server.addUser("alice@localhost", "wonderland")
            await server.addUser("bob@localhost", "rabbithole")
        return server

    async def waitStored(self, server, user, count, timeout=10):
        """
        Wait until C{user} has C{count} stored messages: storing goes on
        after the sender's stanza has been handled.
        """
        store = server.server.hosts["localhost"].modules["offline"].store
        loop = asyncio.get_event_loop()
        deadline = loop.time() + timeout
        while await waitFor(store.count(user)) != count:
            if loop.time() > deadline:
                self.fail("%s has not got %d stored messages" % (user, count))
            await asyncio.sleep(0.02)

    async def sendThree(self, server):
        alice = await self.client("alice@localhost/home", "wonderland", server=server).login()
        for body in ("one", "two", "three"):
            alice.send_message(mto="bob@localhost", mbody=body, mtype="chat")
        await alice.roundTrip()
        await self.waitStored(server, "bob", 3)
        return alice

    async def receiveStored(self, server, bodies):
        """
        Log bob in and check he gets C{bodies}, in order, each with a
        delay stamp from the server (XEP-0160 §2), and nothing more.
        """
        bob = await self.client("bob@localhost/phone", "rabbithole", server=server).login()
        for body in bodies:
            message = await bob.nextMessage()
            self.assertEqual(message["body"], body)
            self.assertEqual(str(message["from"]), "alice@localhost/home")
            self.assertEqual(message["type"], "chat")
            self.assertEqual(str(message["delay"]["from"]), "localhost")
            self.assertEqual(message["delay"]["text"], "Offline Storage")
            self.assertIsNotNone(message["delay"]["stamp"])
            self.assertEqual(message["delay"]["stamp"].utcoffset().total_seconds(), 0)
        await bob.roundTrip()
        self.assertTrue(bob.messages.empty())
        return bob

    def test_deliveredOnLogin(self):
        """
        XEP-0160 §2: bob is offline; alice sends three messages; when bob
        logs in and sends initial presence he gets them, in order, with
        delay stamps, and only once: logging in again brings nothing.
        """
        async def scenario():
            server = await self.startServer()
            alice = await self.sendThree(server)
            self.assertTrue(alice.errors.empty())
            bob = await self.receiveStored(server, ["one", "two", "three"])
            await bob.close()
            again = await self.client("bob@localhost/laptop", "rabbithole", server=server).login()
            await again.roundTrip()
            self.assertTrue(again.messages.empty())
            # Now bob is online: messages go straight to him, unstamped.
            alice.send_message(mto="bob@localhost", mbody="live", mtype="chat")
            live = await again.nextMessage()
            self.assertEqual(live["body"], "live")
            self.assertIsNone(live.xml.find("{urn:xmpp:delay}delay"))
        return asDeferred(scenario())

    def test_unknownAccount(self):
        """
        RFC 6121 §8.5.1: a message to an account that does not exist is
        answered with service-unavailable.
        """
        async def scenario():
            server = await self.startServer()
            alice = await self.client("alice@localhost/home", "wonderland", server=server).login()
            alice.send_message(mto="nobody@localhost", mbody="hello?", mtype="chat")
            error = await alice.nextError()
            self.assertEqual(error["error"]["condition"], "service-unavailable")
        return asDeferred(scenario())

    def test_survivesRestart(self):
        """
        Messages stored with the SQLite driver are delivered by a new
        server started on the same data directory.
        """
        async def scenario():
            dataDir = os.path.abspath(self.mktemp())
            first = await self.startServer(storage="sqlite", dataDir=dataDir)
            await self.sendThree(first)
            await self.closeClients()
            await waitFor(first.service.stopService())
            second = await self.startServer(storage="sqlite", dataDir=dataDir, newUsers=False)
            self.assertNotEqual(second.server, first.server)
            await self.receiveStored(second, ["one", "two", "three"])
        return asDeferred(scenario())
