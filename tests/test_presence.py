"""
Tests for L{xmppframe.modules.presence}: initial and subsequent presence
broadcast (RFC 6121 §4.2, §4.4), probes (§4.3), unavailable presence
however a session ends (§4.5), and directed presence (§4.6).

alice@example.org runs the modules over a fake roster; the contacts on
example.net receive by the router's default delivery, so what reaches
them is what was routed to them.
"""

from twisted.trial import unittest

from xmppframe.api.testing import FakeAccounts, parseStanza as parse

from tests.test_subscription import PresenceHarness, presences


class PresenceTestCase(unittest.TestCase):

    def setUp(self):
        self.h = PresenceHarness(self)
        self.roster = self.h.roster
        for contact, subscription in (("from", "from"), ("both", "both"), ("to", "to"),
                                      ("none", "none")):
            self.roster.setItem("alice", "%s@example.net" % (contact,), subscription=subscription)
        self.contacts = {name: self.h.connect("%s@example.net/res" % (name,))
                         for name in ("from", "both", "to", "none", "stranger")}
        self.clear()

    def clear(self):
        for session in self.contacts.values():
            session.take()

    def received(self):
        """
        @return: name -> list of (type, from, to) of what each contact got.
        """
        return {name: [(p.get("type"), p.get("from"), p.get("to")) for p in presences(session)]
                for name, session in self.contacts.items()}


class InitialPresenceTests(PresenceTestCase):

    def test_broadcastToSubscribers(self):
        """
        §4.2.2: initial presence goes to contacts with 'from' or 'both', one
        copy each with its 'to'; the received stanza is not changed.
        """
        alice = self.h.connect("alice@example.org/home", available=False)
        stanza = self.h.send(alice, "<presence><show>chat</show></presence>")
        got = self.received()
        for name in ("from", "both"):
            self.assertIn((None, "alice@example.org/home", "%s@example.net" % (name,)), got[name])
        for name in ("to", "none", "stranger"):
            self.assertNotIn(None, [type for type, _, _ in got[name]])
        self.assertIsNone(stanza.get("to"))

    def test_probesToSubscriptions(self):
        """
        §4.3.1: probes from the bare JID to contacts with 'to' or 'both'.
        """
        self.h.connect("alice@example.org/home")
        got = self.received()
        for name in ("to", "both"):
            self.assertIn(("probe", "alice@example.org", "%s@example.net" % (name,)), got[name])
        for name in ("from", "none", "stranger"):
            self.assertNotIn("probe", [type for type, _, _ in got[name]])

    def test_ownResources(self):
        """
        §4.2.2: the new resource's presence goes to every available
        resource including itself, and the new resource gets the others'.
        """
        home = self.h.connect("alice@example.org/home",
                              presence="<presence><status>home</status></presence>")
        home.take()
        idle = self.h.connect("alice@example.org/idle", available=False)
        work = self.h.connect("alice@example.org/work")
        self.assertEqual([p.get("from") for p in presences(home)], ["alice@example.org/work"])
        self.assertEqual(presences(idle), [])
        got = presences(work)
        self.assertEqual(sorted(p.get("from") for p in got),
                         ["alice@example.org/home", "alice@example.org/work"])
        [fromHome] = [p for p in got if p.get("from") == "alice@example.org/home"]
        self.assertEqual(fromHome.findtext("{jabber:client}status"), "home")
        self.assertEqual(fromHome.get("to"), "alice@example.org/work")


class SubsequentPresenceTests(PresenceTestCase):

    def test_updateBroadcast(self):
        """
        §4.4.2: a later available presence goes to the subscribers and to
        the account's resources, and nobody is probed again.
        """
        home = self.h.connect("alice@example.org/home")
        work = self.h.connect("alice@example.org/work")
        home.take(), work.take()
        self.clear()
        self.h.send(home, "<presence><show>away</show></presence>")
        got = self.received()
        self.assertEqual(got["from"], [(None, "alice@example.org/home", "from@example.net")])
        self.assertEqual(got["both"], [(None, "alice@example.org/home", "both@example.net")])
        self.assertEqual(got["to"] + got["none"] + got["stranger"], [])
        self.assertEqual(len(presences(home)), 1)
        self.assertEqual(len(presences(work)), 1)


class ProbeTests(PresenceTestCase):
    """
    §4.3.2: probes to alice, answered by her server.
    """

    def probe(self, prober="from@example.net", to="alice@example.org", id="pr1"):
        self.h.inject("<presence from='%s' to='%s' type='probe' id='%s'/>" % (prober, to, id))

    def answers(self, name):
        return [(p.get("type"), p.get("from"), p.get("id"))
                for p in presences(self.contacts[name])]

    def test_availableResources(self):
        """
        Rule 4 and §4.3.2.1: the last presence of each available resource,
        from its full JID, keeping its own 'id'.
        """
        self.h.connect("alice@example.org/home", presence="<presence id='h1'/>")
        self.h.connect("alice@example.org/work", presence="<presence id='w1'/>")
        self.h.connect("alice@example.org/idle", available=False)
        self.clear()
        self.probe()
        self.assertEqual(self.answers("from"), [(None, "alice@example.org/home", "h1"),
                                                (None, "alice@example.org/work", "w1")])

    def test_noAvailableResource(self):
        """
        Rule 3: unavailable from the bare JID, mirroring the probe's 'id'.
        """
        self.probe(prober="both@example.net")
        self.assertEqual(self.answers("both"), [("unavailable", "alice@example.org", "pr1")])

    def test_notSubscribed(self):
        """
        Rule 1: 'unsubscribed' from the bare JID to a prober without 'from'
        or 'both', and no presence.
        """
        self.h.connect("alice@example.org/home")
        self.clear()
        for name in ("to", "none", "stranger"):
            self.probe(prober="%s@example.net" % (name,))
            self.assertEqual(self.answers(name), [("unsubscribed", "alice@example.org", "pr1")])

    def test_noSuchAccount(self):
        """
        §8.5.1: a probe to a missing account is answered 'unsubscribed'.
        """
        self.h.host.auth = FakeAccounts({"alice"})
        self.probe(to="ghost@example.org")
        self.assertEqual(self.answers("from"), [("unsubscribed", "ghost@example.org", "pr1")])

    def test_fullJID(self):
        """
        A probe of a full JID learns only whether that resource is available.
        """
        self.h.connect("alice@example.org/home",
                       presence="<presence><show>dnd</show></presence>")
        self.h.connect("alice@example.org/work")
        self.clear()
        self.probe(to="alice@example.org/home")
        [answer] = presences(self.contacts["from"])
        self.assertEqual((answer.get("type"), answer.get("from")),
                         (None, "alice@example.org/home"))
        self.assertEqual(len(answer), 0)
        self.probe(to="alice@example.org/gone")
        self.assertEqual(self.answers("from"), [("unavailable", "alice@example.org/gone", "pr1")])

    def test_directedPresence(self):
        """
        §4.6.6: a prober alice sent directed presence to, though not
        subscribed, gets mere presence of that resource only.
        """
        home = self.h.connect("alice@example.org/home",
                              presence="<presence><show>away</show></presence>")
        self.h.connect("alice@example.org/work")
        self.h.send(home, "<presence to='stranger@example.net/res'/>")
        self.clear()
        self.probe(prober="stranger@example.net/res")
        [answer] = presences(self.contacts["stranger"])
        self.assertEqual((answer.get("type"), answer.get("from")),
                         (None, "alice@example.org/home"))
        self.assertEqual(len(answer), 0)

    def test_notDelivered(self):
        """
        §8.5.2.1.2: probes are the server's, never delivered to clients.
        """
        home = self.h.connect("alice@example.org/home")
        home.take()
        self.probe()
        self.assertEqual(presences(home), [])


class UnavailableTests(PresenceTestCase):

    def test_gracefulUnavailable(self):
        """
        §4.5.2: the full XML goes to the subscribers, to the entities that
        got directed presence (§4.6.3), and to the account's resources,
        the sending one included.
        """
        home = self.h.connect("alice@example.org/home")
        work = self.h.connect("alice@example.org/work")
        self.h.send(home, "<presence to='stranger@example.net/res'/>")
        self.h.send(home, "<presence to='both@example.net/res'/>")
        home.take(), work.take()
        self.clear()
        self.h.send(home, "<presence type='unavailable'><status>bye</status></presence>")
        got = self.received()
        self.assertEqual(got["from"], [("unavailable", "alice@example.org/home",
                                        "from@example.net")])
        self.assertEqual(got["both"], [("unavailable", "alice@example.org/home",
                                        "both@example.net")])
        self.assertEqual(got["stranger"], [("unavailable", "alice@example.org/home",
                                            "stranger@example.net/res")])
        self.assertEqual(got["to"] + got["none"], [])
        [toWork] = presences(work)
        self.assertEqual(toWork.findtext("{jabber:client}status"), "bye")
        self.assertEqual(len(presences(home, "unavailable")), 1)
        self.assertEqual(home.directedPresence, set())

    def test_droppedConnection(self):
        """
        §4.5.2: a session that ends while available is made unavailable by
        the server, to subscribers, directed presence and other resources.
        """
        home = self.h.connect("alice@example.org/home")
        work = self.h.connect("alice@example.org/work")
        self.h.send(home, "<presence to='stranger@example.net/res'/>")
        work.take()
        self.clear()
        home.close()
        got = self.received()
        for name, to in (("from", "from@example.net"), ("both", "both@example.net"),
                         ("stranger", "stranger@example.net/res")):
            self.assertEqual(got[name], [("unavailable", "alice@example.org/home", to)])
        self.assertEqual([p.get("type") for p in presences(work)], ["unavailable"])

    def test_endAfterUnavailable(self):
        """
        A session that already said unavailable is not announced again
        when it ends.
        """
        home = self.h.connect("alice@example.org/home")
        self.h.send(home, "<presence type='unavailable'/>")
        self.clear()
        home.close()
        self.assertEqual(self.received()["from"], [])

    def test_neverAvailable(self):
        """
        §4.6.3 rule 3: a session that sent directed presence without being
        available tells those entities when it ends, and nobody else.
        """
        home = self.h.connect("alice@example.org/home", available=False)
        self.h.send(home, "<presence to='stranger@example.net/res'/>")
        self.clear()
        home.close()
        got = self.received()
        self.assertEqual(got["stranger"], [("unavailable", "alice@example.org/home",
                                            "stranger@example.net/res")])
        self.assertEqual(got["from"], [])

    def test_availableAgain(self):
        """
        §4.5.2 note: available presence after unavailable is initial
        presence again (probes are sent anew).
        """
        home = self.h.connect("alice@example.org/home")
        self.h.send(home, "<presence type='unavailable'/>")
        self.clear()
        self.h.send(home, "<presence/>")
        self.assertIn("probe", [t for t, _, _ in self.received()["to"]])


class DirectedPresenceTests(PresenceTestCase):

    def test_tracked(self):
        """
        §4.6.3: directed available presence adds the JID; directed
        unavailable removes it; the router delivers both.
        """
        home = self.h.connect("alice@example.org/home")
        self.h.send(home, "<presence to='stranger@example.net/res'/>")
        self.assertEqual({j.full for j in home.directedPresence}, {"stranger@example.net/res"})
        self.h.send(home, "<presence to='stranger@example.net/res' type='unavailable'/>")
        self.assertEqual(home.directedPresence, set())
        self.assertEqual([p.get("type") for p in presences(self.contacts["stranger"])],
                         [None, "unavailable"])

    def test_notBroadcastLater(self):
        """
        §4.6.3 rule 2: an entity that got directed presence is not sent
        later broadcasts.
        """
        home = self.h.connect("alice@example.org/home")
        self.h.send(home, "<presence to='stranger@example.net/res'/>")
        self.clear()
        self.h.send(home, "<presence><show>away</show></presence>")
        self.assertEqual(self.received()["stranger"], [])

    def test_forgottenOnInboundUnavailable(self):
        """
        §4.6.1: an entity that sends unavailable presence to the user is
        removed from the list.
        """
        home = self.h.connect("alice@example.org/home")
        self.h.send(home, "<presence to='stranger@example.net/res'/>")
        self.h.send(self.contacts["stranger"],
                    "<presence to='alice@example.org/home' type='unavailable'/>")
        self.assertEqual(home.directedPresence, set())


class InboundPresenceTests(PresenceTestCase):

    def test_fromNonContactDelivered(self):
        """
        §4.6.4, §8.5.2.1.2: available presence to a bare JID goes to every
        available resource, subscribed sender or not, 'to' unchanged.
        """
        home = self.h.connect("alice@example.org/home")
        idle = self.h.connect("alice@example.org/idle", available=False)
        home.take()
        self.h.send(self.contacts["stranger"], "<presence to='alice@example.org'/>")
        [got] = presences(home)
        self.assertEqual((got.get("from"), got.get("to")),
                         ("stranger@example.net/res", "alice@example.org"))
        self.assertEqual(presences(idle), [])

    def test_unparsedStanzaUntouched(self):
        """
        The router's stanza is never re-addressed in place.
        """
        home = self.h.connect("alice@example.org/home", available=False)
        stanza = parse("<presence/>")
        self.h.router.process(home, stanza)
        self.assertEqual(stanza.get("to"), None)
        self.assertEqual(stanza.get("from"), "alice@example.org/home")
