"""
End-to-end: the IM server extensions every client expects, with real
slixmpp clients against the real server on loopback: vCards (XEP-0054),
private XML storage (XEP-0049), software version (XEP-0092), entity time
(XEP-0202) and pings both ways (XEP-0199).
"""

import asyncio
from datetime import datetime, timezone

from slixmpp.exceptions import IqError
from slixmpp.plugins.xep_0048.stanza import Bookmarks
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

import xmppframe

from tests.e2e import ClientTestCase, asDeferred

#: Short enough for a test: a silent client is pinged after 0.5 to 0.75 s
#: of silence and dropped 0.5 s later.
PING_OPTIONS = {"interval": 0.5, "timeout": 0.5}


class ExtensionTests(ClientTestCase):

    def test_vcardSetAndFetch(self):
        """
        XEP-0054 §3.2, §3.1, §3.3: Alice publishes her vCard and reads it
        back; Bob fetches it from her bare JID, answered by the server.
        """
        async def scenario():
            alice = await self.client("alice@localhost/home", "wonderland", ["xep_0054"]).login()
            bob = await self.client("bob@localhost/phone", "rabbithole", ["xep_0054"]).login()
            vcard = alice["xep_0054"].make_vcard()
            vcard["FN"] = "Alice Liddell"
            vcard["NICKNAME"] = "alice"
            vcard["DESC"] = "Curiouser and curiouser"
            await alice["xep_0054"].publish_vcard(vcard)
            own = await alice["xep_0054"].get_vcard("alice@localhost")
            self.assertEqual(own["vcard_temp"]["FN"], "Alice Liddell")
            seen = await bob["xep_0054"].get_vcard("alice@localhost")
            self.assertEqual(str(seen["from"]), "alice@localhost")
            self.assertEqual(seen["vcard_temp"]["FN"], "Alice Liddell")
            self.assertEqual(seen["vcard_temp"]["NICKNAME"], ["alice"])
            self.assertEqual(seen["vcard_temp"]["DESC"], "Curiouser and curiouser")
            # §3.3: no vCard is service-unavailable, from someone else.
            with self.assertRaises(IqError) as caught:
                await alice["xep_0054"].get_vcard("bob@localhost")
            self.assertEqual(caught.exception.condition, "service-unavailable")
            # §3.2: nobody sets another account's vCard.
            with self.assertRaises(IqError) as caught:
                await bob["xep_0054"].publish_vcard(vcard, jid="alice@localhost")
            self.assertEqual(caught.exception.condition, "forbidden")
        return asDeferred(scenario())

    def test_privateStorageRoundTrip(self):
        """
        XEP-0049 §2: bookmarks (XEP-0048's storage:bookmarks) stored and
        retrieved; another account's get is forbidden.
        """
        async def scenario():
            alice = await self.client("alice@localhost/home", "wonderland",
                                      ["xep_0049", "xep_0048"]).login()
            empty = await alice["xep_0049"].retrieve("bookmarks")
            self.assertEqual(len(empty["private"]["bookmarks"]["conferences"]), 0)
            bookmarks = Bookmarks()
            bookmarks.add_conference("tea@party.localhost", "Alice", name="Tea party",
                                     autojoin=True)
            await alice["xep_0049"].store(bookmarks)
            result = await alice["xep_0049"].retrieve("bookmarks")
            [conference] = result["private"]["bookmarks"]["conferences"]
            self.assertEqual(str(conference["jid"]), "tea@party.localhost")
            self.assertEqual(conference["name"], "Tea party")
            self.assertEqual(conference["nick"], "Alice")
            iq = alice.make_iq_get(ito="bob@localhost")
            iq["private"].enable("bookmarks")
            with self.assertRaises(IqError) as caught:
                await iq.send()
            self.assertEqual(caught.exception.condition, "forbidden")
        return asDeferred(scenario())

    def test_versionTimeAndDisco(self):
        """
        XEP-0092 §2 (no OS by default, §6), XEP-0202 §3, and every
        extension announced in the server's disco#info.
        """
        async def scenario():
            alice = await self.client("alice@localhost/home", "wonderland",
                                      ["xep_0030", "xep_0092", "xep_0202"]).login()
            version = await alice["xep_0092"].get_version("localhost")
            self.assertEqual(version["software_version"]["name"], "xmppframe")
            self.assertEqual(version["software_version"]["version"], xmppframe.__version__)
            self.assertEqual(version["software_version"]["os"], "")
            answer = await alice["xep_0202"].get_entity_time("localhost")
            # Read the XML: slixmpp's own XEP-0082 parsing of <utc/> appends
            # a second 'Z' to the dateTime, and fails on any <tzo/>.
            utc = answer.xml.findtext("{urn:xmpp:time}time/{urn:xmpp:time}utc")
            tzo = answer.xml.findtext("{urn:xmpp:time}time/{urn:xmpp:time}tzo")
            told = datetime.strptime(utc, "%Y-%m-%dT%H:%M:%S%z")
            self.assertEqual(told.utcoffset().total_seconds(), 0)
            self.assertLess(abs((told - datetime.now(timezone.utc)).total_seconds()), 5)
            self.assertEqual(tzo, "+00:00")
            info = await alice["xep_0030"].get_info("localhost")
            features = set(info["disco_info"]["features"])
            for feature in ("vcard-temp", "jabber:iq:private", "jabber:iq:version",
                            "urn:xmpp:time", "urn:xmpp:ping"):
                self.assertIn(feature, features)
        return asDeferred(scenario())


class ServerPingTests(ClientTestCase):

    moduleOptions = {"ping": PING_OPTIONS}

    def test_silentClientDisconnected(self):
        """
        XEP-0199 §4.1 and RFC 6120 §4.6.2: both clients go silent and the
        server pings them; Alice answers and stays, Bob, whose client
        swallows pings without an answer, gets a connection-timeout stream
        error.
        """
        async def scenario():
            alice = self.client("alice@localhost/home", "wonderland")
            pings = asyncio.Queue()
            alice.register_handler(Callback(
                "Count pings", StanzaPath("iq@type=get/ping"), pings.put_nowait))
            await alice.login()
            bob = self.client("bob@localhost/phone", "rabbithole")
            bob.remove_handler("Ping")
            bob.register_handler(Callback(
                "Swallow pings", StanzaPath("iq@type=get/ping"), lambda iq: None))
            await bob.login()
            ping = await asyncio.wait_for(pings.get(), 10)
            self.assertEqual(str(ping["from"]), "localhost")
            error = await bob.nextStreamError()
            self.assertEqual(error["condition"], "connection-timeout")
            # Alice answers each ping and keeps her session past timeouts.
            await asyncio.wait_for(pings.get(), 10)
            await asyncio.sleep(0.6)
            self.assertIsNotNone(alice.serverSession())
            await alice.roundTrip()
            self.assertIsNone(bob.serverSession())
        return asDeferred(scenario())
