"""
End-to-end: Message Archive Management (XEP-0313) between real slixmpp
clients and the real server on loopback, on the SQLite store, where an
archive write finishes after the message has been delivered.
"""

import asyncio
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timezone

from tests.e2e import ClientTestCase, asDeferred

STANZA_ID = "{urn:xmpp:sid:0}stanza-id"


def body(result):
    return result["mam_result"]["forwarded"]["stanza"]["body"]


class MamEndToEndTests(ClientTestCase):

    timeout = 120
    accounts = tuple((name + "@localhost", "secret-" + name)
                     for name in ("alice", "bob", "carol"))
    storage = "sqlite"
    moduleOptions = {"mam": {}}
    clientPlugins = ("xep_0313",)

    async def login(self, name, resource):
        return await self.client("%s@localhost/%s" % (name, resource), "secret-" + name).login()

    async def exchange(self, one, other, count, prefix):
        """
        C{one} and C{other} take turns, each message answered before the
        next is sent, so the archive order is known.

        @return: the bodies in order, and the stanza ids (by C{one}'s
            account) of the messages C{one} received.
        """
        bodies = []
        receivedIds = {}
        for n in range(count):
            sender, recipient = (one, other) if n % 2 == 0 else (other, one)
            text = "%s %03d" % (prefix, n)
            sender.send_message(mto=recipient.boundjid.bare, mbody=text, mtype="chat")
            received = await recipient.nextMessage()
            self.assertEqual(received["body"], text)
            if recipient is one:
                [stanzaId] = received.xml.findall(STANZA_ID)
                self.assertEqual(stanzaId.get("by"), one.boundjid.bare)
                receivedIds[text] = stanzaId.get("id")
            bodies.append(text)
        return bodies, receivedIds

    def test_pagesOf50(self):
        """
        The issue's acceptance check: Alice and Bob exchange 200 messages,
        and Alice pages through her archive 50 at a time (XEP-0313 §4.3,
        XEP-0059) and gets all 200, in order, with their bodies; the ids of
        the results are the stanza ids she was given on delivery
        (XEP-0313 §3.3).
        """
        async def scenario():
            alice = await self.login("alice", "home")
            bob = await self.login("bob", "phone")
            sent, receivedIds = await self.exchange(alice, bob, 200, "message")
            await alice.roundTrip()
            pages = []
            async for page in alice.plugin["xep_0313"].retrieve(
                    iterator=True, rsm={"max": 50}):
                results = page["mam"]["results"]
                if results:
                    pages.append(results)
            self.assertEqual([len(p) for p in pages], [50, 50, 50, 50])
            results = [r for p in pages for r in p]
            self.assertEqual([body(r) for r in results], sent)
            for result in results:
                text = body(result)
                if text in receivedIds:
                    self.assertEqual(result["mam_result"]["id"], receivedIds[text])
            self.assertEqual(len(set(r["mam_result"]["id"] for r in results)), 200)
            forwarded = results[1]["mam_result"]["forwarded"]
            self.assertEqual(str(forwarded["stanza"]["from"]), "bob@localhost/phone")
            self.assertIsNotNone(forwarded["delay"]["stamp"])

            # The same archive, paged backwards from the end (XEP-0313 §4.3.3).
            backwards = [body(m) async for m in alice.plugin["xep_0313"].iterate(
                reverse=True, rsm={"max": 50})]
            self.assertEqual(backwards, list(reversed(sent)))

            # Bob's archive has the same conversation.
            bobs = [body(m) async for m in bob.plugin["xep_0313"].iterate(rsm={"max": 50})]
            self.assertEqual(bobs, sent)
        return asDeferred(scenario())

    def test_withAndTimeRange(self):
        """
        XEP-0313 §4.1.1 and §4.1.2: filtering by the other party and by
        the time messages were archived.
        """
        async def scenario():
            alice = await self.login("alice", "home")
            bob = await self.login("bob", "phone")
            carol = await self.login("carol", "desk")
            early, _ = await self.exchange(alice, bob, 6, "early")
            await alice.roundTrip()
            await asyncio.sleep(0.01)
            mark = datetime.now(timezone.utc)
            await asyncio.sleep(0.01)
            withCarol, _ = await self.exchange(alice, carol, 4, "carol")
            late, _ = await self.exchange(alice, bob, 4, "late")
            await alice.roundTrip()
            await asyncio.sleep(0.01)
            end = datetime.now(timezone.utc)
            await asyncio.sleep(0.01)
            after, _ = await self.exchange(alice, bob, 2, "after")
            await alice.roundTrip()

            mam = alice.plugin["xep_0313"]

            async def bodies(**kwargs):
                return [body(m) async for m in mam.iterate(rsm={"max": 3}, **kwargs)]

            self.assertEqual(await bodies(with_jid="carol@localhost"), withCarol)
            self.assertEqual(await bodies(with_jid="bob@localhost"), early + late + after)
            self.assertEqual(await bodies(with_jid="carol@localhost/desk"), withCarol[1::2])
            self.assertEqual(await bodies(start=mark), withCarol + late + after)
            self.assertEqual(await bodies(start=mark, end=end), withCarol + late)
            self.assertEqual(await bodies(end=mark), early)
            self.assertEqual(await bodies(start=mark, end=end, with_jid="bob@localhost"), late)
        return asDeferred(scenario())

    def test_prefsNever(self):
        """
        XEP-0441: with default 'never' Bob's messages are not archived and
        carry no stanza id, while Alice's side still is.
        """
        async def scenario():
            alice = await self.login("alice", "home")
            bob = await self.login("bob", "phone")
            iq = bob.make_iq_set()
            iq.xml.append(_prefsElement("never"))
            await iq.send()
            alice.send_message(mto="bob@localhost", mbody="off the record", mtype="chat")
            received = await bob.nextMessage()
            self.assertEqual(received.xml.findall(STANZA_ID), [])
            await alice.roundTrip()
            bobs = [body(m) async for m in bob.plugin["xep_0313"].iterate(rsm={"max": 10})]
            alices = [body(m) async for m in alice.plugin["xep_0313"].iterate(rsm={"max": 10})]
            self.assertEqual((bobs, alices), ([], ["off the record"]))
        return asDeferred(scenario())


def _prefsElement(default):
    """
    A XEP-0441 prefs set payload, as the ElementTree element slixmpp
    stanzas are made of.
    """
    return ElementTree.fromstring("<prefs xmlns='urn:xmpp:mam:2' default='%s'><always/><never/></prefs>"
                         % (default,))
