"""
End-to-end: service discovery (XEP-0030, XEP-0128, XEP-0157) and entity
capabilities (XEP-0115) with real slixmpp clients against the real server
on loopback.
"""

import asyncio

from slixmpp.exceptions import IqError

from tests.e2e import ClientTestCase, asDeferred
from xmppframe.interfaces import ICaps

DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
CAPS = "http://jabber.org/protocol/caps"
PING = "urn:xmpp:ping"
SERVERINFO = "http://jabber.org/network/serverinfo"
DATA_FORMS = "jabber:x:data"

ABUSE = ["mailto:abuse@localhost", "xmpp:abuse@localhost"]


async def eventually(check, timeout=10):
    """
    Wait until C{check()} returns something true, and return it.
    """
    loop = asyncio.get_event_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError("condition not met within %s seconds" % (timeout,))
        await asyncio.sleep(0.02)


def serverInfoForm(iq):
    """
    The XEP-0157 form of a disco#info result, as C{{var: [values]}}.
    """
    for x in iq.xml.iter("{%s}x" % (DATA_FORMS,)):
        fields = {f.get("var"): [v.text for v in f.iter("{%s}value" % (DATA_FORMS,))]
                  for f in x.iter("{%s}field" % (DATA_FORMS,))}
        if fields.get("FORM_TYPE") == [SERVERINFO]:
            return fields
    return None


class DiscoTests(ClientTestCase):

    moduleOptions = {"disco": {"abuse": ABUSE}}
    clientPlugins = ("xep_0030",)

    @property
    def host(self):
        return self.server.server.hosts["localhost"]

    def test_serverInfo(self):
        """
        XEP-0030 §3.1: the server's identity and the features of its
        loaded modules, and the contact addresses form (XEP-0157 §3).
        """
        async def scenario():
            alice = await self.client("alice@localhost", "wonderland").login()
            iq = await alice.plugin["xep_0030"].get_info(jid="localhost", timeout=10)
            info = iq["disco_info"]
            self.assertIn(("server", "im", None, "xmppframe"), info["identities"])
            features = set(info["features"])
            for feature in (DISCO_INFO, DISCO_ITEMS, PING, CAPS):
                self.assertIn(feature, features)
            self.assertEqual(features, set(self.host.features()))
            form = serverInfoForm(iq)
            self.assertIsNotNone(form)
            self.assertEqual(form["abuse-addresses"], ABUSE)
        return asDeferred(scenario())

    def test_serverItems(self):
        """
        XEP-0030 §4.1: empty by default, then what is registered.
        """
        async def scenario():
            alice = await self.client("alice@localhost", "wonderland").login()
            disco = alice.plugin["xep_0030"]
            iq = await disco.get_items(jid="localhost", timeout=10)
            self.assertEqual(list(iq["disco_items"]["items"]), [])
            self.host.addDiscoItem("conference.localhost", "Chat rooms")
            self.addCleanup(self.host.removeDiscoItem, "conference.localhost")
            iq = await disco.get_items(jid="localhost", timeout=10)
            self.assertEqual(list(iq["disco_items"]["items"]),
                             [("conference.localhost", None, "Chat rooms")])
        return asDeferred(scenario())

    def test_accountInfo(self):
        """
        XEP-0030 §3 for an account's bare JID, answered by the server: the
        account itself gets account/registered; another account without a
        presence subscription, or a missing account, gets
        service-unavailable (§8).
        """
        async def scenario():
            alice = await self.client("alice@localhost", "wonderland").login()
            bob = await self.client("bob@localhost", "rabbithole").login()
            iq = await alice.plugin["xep_0030"].get_info(jid="alice@localhost", timeout=10)
            self.assertEqual(list(iq["disco_info"]["identities"]),
                             [("account", "registered", None, None)])
            self.assertIn(DISCO_INFO, iq["disco_info"]["features"])
            for jid in ("alice@localhost", "nobody@localhost"):
                with self.assertRaises(IqError) as raised:
                    await bob.plugin["xep_0030"].get_info(jid=jid, timeout=10)
                self.assertEqual(raised.exception.iq["error"]["condition"],
                                 "service-unavailable")
            iq = await bob.plugin["xep_0030"].get_items(jid="alice@localhost", timeout=10)
            self.assertEqual(list(iq["disco_items"]["items"]), [])
        return asDeferred(scenario())

    def test_serverCaps(self):
        """
        XEP-0115 §6.3: the server's caps are in the stream features after
        authentication, and slixmpp verifies them (§5.4) by asking the
        server for node#ver.
        """
        async def scenario():
            alice = await self.client("alice@localhost", "wonderland", ["xep_0115"]).login()
            self.assertIn("caps", alice.features)
            ver = self.host.modules["caps"].ownVer()
            caps = alice.plugin["xep_0115"]
            verified = await eventually(lambda: caps.static.jid_vers.get("localhost"))
            self.assertEqual(verified, ver)
        return asDeferred(scenario())

    def test_clientCaps(self):
        """
        XEP-0115 §5.4: once a client's presence advertised caps, a module
        asking for its features makes the server ask it, verify the
        answer, and know them.
        """
        async def scenario():
            alice = self.client("alice@localhost", "wonderland", ["xep_0115"])
            await alice.login(presence=False)
            alice.plugin["xep_0030"].add_feature("urn:example:alice")
            await alice.plugin["xep_0115"].update_caps(broadcast=False)
            alice.send_presence()
            caps = self.host.services.get(ICaps)
            jid = str(alice.boundjid)
            # Nothing is asked until someone needs the answer (issue 14).
            await eventually(lambda: jid in {str(j) for j in caps._entities})
            features = await caps.featuresOf(jid).asFuture(asyncio.get_event_loop())
            self.assertIn("urn:example:alice", features)
            self.assertIn(CAPS, features)
            self.assertIn(DISCO_INFO, features)
        return asDeferred(scenario())
