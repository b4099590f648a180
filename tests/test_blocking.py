"""
Tests for L{xmppframe.modules.blocking}: the blocking command (XEP-0191)
on top of the privacy lists' store and filter.
"""

from lxml import etree

from zope.interface.verify import verifyObject

from xmppframe.interfaces import IModule
from xmppframe.modules.blocking import BlockingModule
from xmppframe.modules.privacy.blocklist import BLOCKLIST_NAME
from xmppframe.xml.namespaces import BLOCKING, BLOCKING_ERRORS

from tests.fakes import parse
from tests.test_privacy import J, PrivacyHarness, privacyQuery


def blocking(local, jids=()):
    items = "".join("<item jid='%s'/>" % (jid,) for jid in jids)
    return "<%s xmlns='%s'>%s</%s>" % (local, BLOCKING, items, local)


class BlockingHarness(PrivacyHarness):

    def setUp(self):
        PrivacyHarness.setUp(self)
        self.blocking = self.loadModule(BlockingModule)
        self.home = self.connect("alice@example.org/home")
        self.work = self.connect("alice@example.org/work")
        self.bob = self.connect("bob@example.org/phone")

    def blocklist(self, session):
        reply = self.assertResult(self.iq(session, "get", blocking("blocklist"), id="bl"))
        [element] = reply
        self.assertEqual(element.tag, "{%s}blocklist" % (BLOCKING,))
        return [item.get("jid") for item in element]

    def block(self, session, jids, id="b1"):
        return self.assertResult(self.iq(session, "set", blocking("block", jids), id=id))

    def unblock(self, session, jids=(), id="u1"):
        return self.assertResult(self.iq(session, "set", blocking("unblock", jids), id=id))

    def blockPushes(self, session):
        """
        The XEP-0191 pushes C{session} was sent, as (element name, JIDs),
        forgetting them and any privacy list pushes.
        """
        pushes = []
        for stanza in session.take():
            if stanza.get("type") != "set" or len(stanza) != 1:
                continue
            payload = stanza[0]
            name = etree.QName(payload)
            if name.namespace == BLOCKING:
                pushes.append((name.localname, [item.get("jid") for item in payload]))
        return pushes


class ProtocolTests(BlockingHarness):
    """
    XEP-0191 §3: requests, answers, pushes.
    """

    def test_module(self):
        """
        §3.1: the server advertises urn:xmpp:blocking.
        """
        self.assertTrue(verifyObject(IModule, self.blocking))
        self.assertIn(BLOCKING, self.host.features())

    def test_emptyBlocklist(self):
        """
        §3.2: no blocked JIDs is an empty <blocklist/>.
        """
        self.assertEqual(self.blocklist(self.home), [])

    def test_blockPushedToRequesters(self):
        """
        §3.3: the block is answered with a result, and pushed to every
        resource that requested the blocklist, and to no other.
        """
        self.blocklist(self.home)
        self.block(self.home, ["bob@example.org", "eve@example.net"])
        self.assertEqual(self.blockPushes(self.home),
                         [("block", ["bob@example.org", "eve@example.net"])])
        self.assertEqual(self.blockPushes(self.work), [])
        self.assertEqual(self.blocklist(self.work), ["bob@example.org", "eve@example.net"])

    def test_blockErrors(self):
        """
        §3.3: a block without items is bad-request; an unusable JID is
        jid-malformed.  Nothing is blocked.
        """
        self.assertErrorReply(self.iq(self.home, "set", blocking("block")), "bad-request")
        self.assertErrorReply(self.iq(self.home, "set", blocking("block", ["a@@b"])),
                              "jid-malformed")
        self.assertErrorReply(self.iq(self.home, "set", "<block xmlns='%s'><item/></block>"
                                      % (BLOCKING,)), "jid-malformed")
        self.assertEqual(self.blocklist(self.home), [])

    def test_unblock(self):
        """
        §3.4: unblocking named JIDs, pushed as requested.
        """
        self.blocklist(self.home)
        self.block(self.home, ["bob@example.org", "eve@example.net"])
        self.blockPushes(self.home)
        self.unblock(self.home, ["eve@example.net"])
        self.assertEqual(self.blockPushes(self.home), [("unblock", ["eve@example.net"])])
        self.assertEqual(self.blocklist(self.home), ["bob@example.org"])

    def test_unblockAll(self):
        """
        §3.5: an empty <unblock/> unblocks everyone; the push is empty too.
        """
        self.blocklist(self.home)
        self.block(self.home, ["bob@example.org", "eve@example.net"])
        self.blockPushes(self.home)
        self.unblock(self.home)
        self.assertEqual(self.blockPushes(self.home), [("unblock", [])])
        self.assertEqual(self.blocklist(self.home), [])

    def test_blockTwice(self):
        self.block(self.home, ["bob@example.org"])
        self.block(self.home, ["bob@example.org"], id="b2")
        self.assertEqual(self.blocklist(self.home), ["bob@example.org"])

    def test_endedSessionForgotten(self):
        self.blocklist(self.home)
        self.home.close()
        self.assertNotIn(self.home, self.blocking._interested)


class PrivacyMappingTests(BlockingHarness):
    """
    XEP-0191 §6: the blocklist is the jid/deny items of the default
    privacy list.
    """

    def privacyList(self, session, name):
        reply = self.assertResult(self.iq(session, "get", privacyQuery(
            "<list name='%s'/>" % (name,)), id="pl"))
        return [dict(item.attrib) for item in reply[0][0]]

    def test_defaultListMade(self):
        """
        With no default list, blocking makes one, the default.
        """
        self.block(self.home, ["bob@example.org"])
        state = self.privacy.policy.cached("alice")
        self.assertEqual(state.default, BLOCKLIST_NAME)
        self.assertEqual(self.privacyList(self.home, BLOCKLIST_NAME), [
            {"type": "jid", "value": "bob@example.org", "action": "deny", "order": "0"}])

    def test_existingDefaultList(self):
        """
        Blocked items go first in an existing default list (renumbered when
        there is no room before its first item), the other items stay, and
        unblocking leaves them alone.
        """
        self.setList(self.home, "mine",
                     "<item type='subscription' value='both' action='allow' order='0'/>"
                     "<item action='deny' order='5'><message/></item>")
        self.work.close()
        self.setDefault(self.home, "mine")
        self.block(self.home, ["bob@example.org"])
        self.assertEqual(self.privacyList(self.home, "mine"), [
            {"type": "jid", "value": "bob@example.org", "action": "deny", "order": "0"},
            {"type": "subscription", "value": "both", "action": "allow", "order": "1"},
            {"action": "deny", "order": "2"}])
        self.unblock(self.home, ["bob@example.org"])
        self.assertEqual(self.privacyList(self.home, "mine"), [
            {"type": "subscription", "value": "both", "action": "allow", "order": "1"},
            {"action": "deny", "order": "2"}])

    def test_roomBeforeFirstItem(self):
        self.setList(self.home, "mine", "<item action='allow' order='10'/>")
        self.work.close()
        self.setDefault(self.home, "mine")
        self.block(self.home, ["bob@example.org", "eve@example.org"])
        self.assertEqual([i["order"] for i in self.privacyList(self.home, "mine")],
                         ["8", "9", "10"])

    def test_privacyEditShowsInBlocklist(self):
        """
        §6 point 2: a block item added to the default list through privacy
        lists is in the blocklist; items for some stanzas only are not.
        """
        self.block(self.home, ["bob@example.org"])
        self.setList(self.home, BLOCKLIST_NAME,
                     "<item type='jid' value='eve@example.org' action='deny' order='1'/>"
                     "<item type='jid' value='mallory@example.org' action='deny' order='2'>"
                     "<message/></item>")
        self.assertEqual(self.blocklist(self.home), ["eve@example.org"])

    def test_privacyPushOnBlock(self):
        """
        XEP-0016 §2.2 rule 10: the default list changed, so its name is
        pushed to every resource.
        """
        self.block(self.home, ["bob@example.org"])
        self.assertEqual(self.pushes(self.work), [BLOCKLIST_NAME])


class EnforcementTests(BlockingHarness):
    """
    XEP-0191 §3.3: what a block does to stanzas.
    """

    def setUp(self):
        BlockingHarness.setUp(self)
        self.block(self.home, ["bob@example.org"])
        for session in (self.home, self.work, self.bob):
            session.take()

    def test_inbound(self):
        """
        Presence from a blocked JID is dropped without an answer; a message
        or an iq get/set gets service-unavailable; other iqs are dropped.
        """
        table = [
            ("<presence to='alice@example.org'/>", None),
            ("<presence to='alice@example.org' type='subscribe'/>", None),
            ("<presence to='alice@example.org/home' type='probe'/>", None),
            ("<message to='alice@example.org' type='chat' id='x'><body>hi</body></message>",
             "service-unavailable"),
            ("<iq to='alice@example.org/home' type='get' id='x'><ping xmlns='urn:xmpp:ping'/></iq>",
             "service-unavailable"),
            ("<iq to='alice@example.org/work' type='set' id='x'><q xmlns='urn:x'/></iq>",
             "service-unavailable"),
            ("<iq to='alice@example.org/home' type='result' id='x'/>", None),
        ]
        for text, condition in table:
            self.send(self.bob, text)
            self.assertEqual(self.home.take() + self.work.take(), [], text)
            replies = self.bob.take()
            if condition is None:
                self.assertEqual(replies, [], text)
            else:
                [reply] = replies
                self.assertErrorReply(reply, condition)

    def test_outbound(self):
        """
        A stanza to a blocked JID is refused with not-acceptable and
        <blocked xmlns='urn:xmpp:blocking:errors'/>.
        """
        for text in ("<message to='bob@example.org' id='o'><body>Can you hear me now?</body></message>",
                     "<iq to='bob@example.org/phone' type='get' id='o'><ping xmlns='urn:xmpp:ping'/></iq>",
                     "<presence to='bob@example.org' type='subscribe' id='o'/>"):
            self.send(self.home, text)
            [error] = self.home.take()
            self.assertErrorReply(error, "not-acceptable")
            self.assertIsNotNone(error.find(".//{%s}blocked" % (BLOCKING_ERRORS,)))
            self.assertEqual(self.bob.take(), [])

    def test_broadcastSilent(self):
        """
        Presence the server sends on the user's behalf does not reach a
        blocked JID, and no error comes back: the user appears offline.
        """
        self.router.route(parse("<presence from='alice@example.org/home' to='bob@example.org'/>"))
        self.assertEqual(self.bob.take(), [])
        self.assertEqual(self.home.take(), [])

    def test_unblockRestores(self):
        self.unblock(self.home, ["bob@example.org"])
        self.home.take()
        self.send(self.bob, "<message to='alice@example.org/home'><body>hi</body></message>")
        self.assertEqual(len(self.home.take()), 1)
        self.send(self.home, "<message to='bob@example.org/phone'><body>hi</body></message>")
        self.assertEqual(len(self.bob.take()), 1)

    def test_domainBlock(self):
        """
        §7: a domain matches every JID at it.
        """
        eve = self.connect("eve@example.org/x")
        self.block(self.home, ["example.org"], id="b2")
        self.home.take()
        self.send(eve, "<message to='alice@example.org/home'><body>hi</body></message>")
        self.assertEqual(self.home.take(), [])
        self.assertErrorReply(eve.take()[0], "service-unavailable")

    def test_fullJIDBlock(self):
        """
        §7: a full JID matches only that resource.
        """
        self.unblock(self.home)
        self.block(self.home, ["bob@example.org/phone"], id="b2")
        self.home.take()
        laptop = self.connect("bob@example.org/laptop")
        self.send(laptop, "<message to='alice@example.org/home'><body>hi</body></message>")
        self.assertEqual(len(self.home.take()), 1)
        self.send(self.bob, "<message to='alice@example.org/home'><body>hi</body></message>")
        self.assertEqual(self.home.take(), [])


class PresenceTests(BlockingHarness):
    """
    §3.3: on block, unavailable presence from each available resource to
    the blocked JID if it may see the user's presence; §3.4: on unblock,
    the current presence.
    """

    def test_subscriber(self):
        self.roster.add("alice", "bob@example.org", "both")
        self.block(self.home, ["bob@example.org"])
        presences = self.bob.take()
        self.assertEqual(sorted((p.get("from"), p.get("type")) for p in presences), [
            ("alice@example.org/home", "unavailable"),
            ("alice@example.org/work", "unavailable")])
        self.unblock(self.home, ["bob@example.org"])
        presences = self.bob.take()
        self.assertEqual(sorted((p.get("from"), p.get("type")) for p in presences), [
            ("alice@example.org/home", None), ("alice@example.org/work", None)])

    def test_directedPresence(self):
        """
        RFC 6121 §4.6: a JID the session sent directed presence to is told
        too; an unavailable resource sends nothing.
        """
        self.work.available = False
        self.home.directedPresence.add(J("bob@example.org/phone"))
        self.block(self.home, ["bob@example.org"])
        [presence] = self.bob.take()
        self.assertEqual((presence.get("from"), presence.get("to"), presence.get("type")),
                         ("alice@example.org/home", "bob@example.org/phone", "unavailable"))

    def test_notSubscribed(self):
        """
        A JID not allowed to see the user's presence is not sent any.
        """
        self.roster.add("alice", "bob@example.org", "to")
        self.block(self.home, ["bob@example.org"])
        self.assertEqual(self.bob.take(), [])


class PersistenceTests(PrivacyHarness):
    """
    The blocklist is stored with the privacy lists and survives a restart.
    """

    def test_sameStore(self):
        storage = self.host.storage
        self.loadModule(BlockingModule)
        alice = self.connect("alice@example.org/home")
        self.send(alice, "<iq type='set' id='b'>%s</iq>" % blocking("block", ["bob@example.org"]))
        self.setUpServer(storage)
        self.loadModule(BlockingModule)
        alice = self.connect("alice@example.org/home")
        reply = self.iq(alice, "get", blocking("blocklist"))
        self.assertEqual([i.get("jid") for i in reply[0]], ["bob@example.org"])
        state = self.privacy.policy.cached("alice")
        self.assertEqual(list(state.lists), [BLOCKLIST_NAME])
