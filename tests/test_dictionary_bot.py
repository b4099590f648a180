"""
The dictionary bot example (examples/dictionary_bot.py), a client built
on Twisted's own XMPP client (twisted.words), logged in to a real
xmppframe server over STARTTLS with SASL PLAIN, talking to a slixmpp user.
"""

import asyncio
import io
import sys

from twisted.internet import reactor
from twisted.trial import unittest

from examples.dictionary_bot import DictionaryBot, define, loadTrustRoot, parseArguments
from tests.e2e import RunningServer, asDeferred, requireAsyncioReactor, waitFor
from tests.xmppclient import TestClient


class DefineTests(unittest.TestCase):

    def test_known(self):
        self.assertTrue(define(" XMPP ").startswith("XMPP: The Extensible Messaging"))

    def test_unknown(self):
        self.assertEqual(define("frobnicate"), "I don't know frobnicate")

    def test_arguments(self):
        arguments = parseArguments(["--jid", "dict@localhost", "--password-file", "pw",
                                    "--server", "127.0.0.1:5333", "--ca-file", "ca.pem"])
        self.assertEqual(arguments.server, ("127.0.0.1", 5333))
        self.patch(sys, "stderr", io.StringIO())
        self.assertRaises(SystemExit, parseArguments,
                          ["--jid", "d@l", "--password-file", "p", "--ca-file", "c",
                           "--server", "no-port"])


class DictionaryBotTests(unittest.TestCase):

    timeout = 60

    def setUp(self):
        requireAsyncioReactor()
        return asDeferred(self._setUp())

    async def _setUp(self):
        self.server = await RunningServer.start(self)
        await self.server.addUser("dict@localhost", "definitions")
        await self.server.addUser("alice@localhost", "wonderland")

    def startBot(self, password):
        bot = DictionaryBot("dict@localhost/bot", password,
                            loadTrustRoot(self.server.certificatePath()))
        self.addCleanup(bot.stop)
        reactor.connectTCP("127.0.0.1", self.server.port, bot.factory)
        return bot

    def test_answers(self):
        return asDeferred(self._answers())

    async def _answers(self):
        bot = self.startBot("definitions")
        await waitFor(bot.whenReady)
        # The stream is encrypted and the bot bound a resource.
        session = self.server.server.sessions.sessionFor(
            self.server.server.router.jids.parse("dict@localhost/bot"))
        self.assertTrue(session.encrypted)
        alice = TestClient("alice@localhost/phone", "wonderland", self.server)
        await alice.login()
        self.addCleanup(lambda: asDeferred(alice.close()))
        alice.send_message("dict@localhost/bot", "xmpp", mtype="chat")
        reply = await alice.nextMessage()
        self.assertEqual(str(reply["from"]), "dict@localhost/bot")
        self.assertEqual(reply["body"], define("xmpp"))
        self.assertIn("Extensible Messaging and Presence Protocol", reply["body"])
        alice.send_message("dict@localhost/bot", "gibberish", mtype="chat")
        reply = await alice.nextMessage()
        self.assertEqual(reply["body"], "I don't know gibberish")
        # A subscription request is accepted.
        subscribed = asyncio.get_event_loop().create_future()
        alice.add_event_handler(
            "presence_subscribed",
            lambda presence: subscribed.done() or subscribed.set_result(presence))
        alice.send_presence(pto="dict@localhost", ptype="subscribe")
        presence = await asyncio.wait_for(subscribed, 10)
        self.assertEqual(str(presence["from"].bare), "dict@localhost")

    def test_wrongPassword(self):
        return asDeferred(self._wrongPassword())

    async def _wrongPassword(self):
        bot = self.startBot("guess")
        with self.assertRaises(Exception) as caught:
            await waitFor(bot.whenReady)
        self.assertIn("not-authorized", str(caught.exception))
