"""
Tests for L{xmppframe.modules.offline}: offline message storage and
delivery (XEP-0160), with XEP-0203 delay stamps, driven through the real
router with fake sessions, a fake clock and the in-memory store.
"""

from lxml import etree

from zope.interface.verify import verifyObject

from twisted.internet import defer, task
from twisted.trial import unittest

from xmppframe.api.testing import ModuleHarness, parseStanza as parse, stanzaErrorCondition
from xmppframe.events import ACCOUNT_REMOVED
from xmppframe.interfaces import IModule
from xmppframe.modules.offline import OfflineModule, delayStamp, isChatStateOnly
from xmppframe.storage.memory import MemoryStorage
from xmppframe.xml import namespaces as NS

#: 2002-09-10T23:08:25Z, the stamp of the XEP-0160 §2 example.
EXAMPLE_TIME = 1031699305.75


class GatedArchive:
    """
    An archive store whose answers wait, while C{paused}, until
    L{release}: what a slow database does to the order of events.
    """

    def __init__(self, store):
        self.store = store
        self.paused = False
        self.waiting = []
        self.failAppend = False

    def _gate(self, d):
        if not self.paused:
            return d
        gated = defer.Deferred()
        self.waiting.append((d, gated))
        return gated

    def append(self, *args, **kwargs):
        if self.failAppend:
            return defer.fail(RuntimeError("disk full"))
        return self._gate(self.store.append(*args, **kwargs))

    def query(self, *args, **kwargs):
        return self._gate(self.store.query(*args, **kwargs))

    def count(self, user):
        return self._gate(self.store.count(user))

    def delete(self, *args, **kwargs):
        return self._gate(self.store.delete(*args, **kwargs))

    def users(self):
        return self._gate(self.store.users())

    def release(self):
        """
        Answer every waiting call, and any call made meanwhile.
        """
        self.paused = False
        while self.waiting:
            d, gated = self.waiting.pop(0)
            d.chainDeferred(gated)


class GatedStorage(MemoryStorage):
    """
    The in-memory driver with gated archive stores.
    """

    def __init__(self, clock):
        MemoryStorage.__init__(self, clock)
        self.gates = {}

    def archive(self, host, name):
        key = (host, name)
        if key not in self.gates:
            self.gates[key] = GatedArchive(MemoryStorage.archive(self, host, name))
        return self.gates[key]


class OfflineTestCase(unittest.TestCase):
    """
    A host example.org with accounts alice and bob, the router, and the
    offline module; alice is online (available, priority 0), bob is not.
    """

    options = {}
    storageClass = GatedStorage
    accounts = {"alice", "bob"}
    #: Whether setUp loads the module and brings alice online.
    loadModule = True

    def setUp(self):
        self.clock = task.Clock()
        self.clock.advance(EXAMPLE_TIME)
        self.storage = self.storageClass(self.clock)
        self.harness = ModuleHarness("example.org", storage=self.storage, clock=self.clock,
                                     users=self.accounts)
        self.auth = self.harness.accounts
        self.router = self.harness.router
        self.host = self.harness.host
        self.module = self.harness.create(OfflineModule, self.options)
        self.archive = self.storage.archive("example.org", "offline")
        if self.loadModule:
            self.module.load()
            self.alice = self.online("alice@example.org", "home")

    def connect(self, jid, resource):
        """
        A session of C{jid} bound to C{resource}, not yet available.
        """
        return self.harness.client("%s/%s" % (jid, resource))

    def online(self, jid, resource, priority=None):
        """
        A session of C{jid} that has sent initial presence, of
        C{priority} if given.
        """
        session = self.connect(jid, resource)
        self.sendPresence(session, priority)
        return session

    def sendPresence(self, session, priority=None):
        payload = "" if priority is None else "<priority>%d</priority>" % (priority,)
        self.harness.send(session, "<presence>%s</presence>" % (payload,))

    def send(self, body="Hi", to="bob@example.org", type="chat", id=None, extra="",
             sender=None):
        attributes = " to='%s'" % (to,)
        if type is not None:
            attributes += " type='%s'" % (type,)
        if id is not None:
            attributes += " id='%s'" % (id,)
        content = extra if body is None else "<body>%s</body>%s" % (body, extra)
        self.router.process(sender or self.alice,
                            parse("<message%s>%s</message>" % (attributes, content)))

    def stored(self, user="bob"):
        """
        The stored messages of C{user}, parsed.
        """
        items = self.successResultOf(self.archive.store.query(user))
        return [etree.fromstring(item.payload) for item in items]

    def bodies(self, stanzas):
        return [stanza.findtext("{jabber:client}body") for stanza in stanzas]

    def delay(self, stanza):
        return stanza.find(NS.qname(NS.DELAY, "delay"))


class ModuleTests(OfflineTestCase):

    def test_interface(self):
        self.assertTrue(verifyObject(IModule, self.module))

    def test_feature(self):
        """
        XEP-0160 §4: the "msgoffline" feature is registered for disco.
        """
        self.assertEqual(NS.MSGOFFLINE, "msgoffline")
        self.assertIn(NS.MSGOFFLINE, self.host.features())

    def test_unload(self):
        """
        Once unloaded, nothing is stored: the router answers a message to
        an account without resources with service-unavailable
        (RFC 6121 §8.5.2.2.1).
        """
        self.successResultOf(defer.maybeDeferred(self.module.unload))
        self.assertNotIn(NS.MSGOFFLINE, self.host.features())
        self.send()
        [reply] = self.alice.take()
        self.assertEqual(stanzaErrorCondition(reply), "service-unavailable")
        self.assertEqual(self.stored(), [])

    def test_badLimit(self):
        """
        A C{max_messages} that is not a positive integer is refused when
        the module loads, with a message naming it.
        """
        for bad in (0, -1, "many", True):
            module = self.harness.create(OfflineModule, {"max_messages": bad})
            e = self.assertRaises(ValueError, module.load)
            self.assertIn("max_messages", str(e))

    def test_optionSchema(self):
        """
        The option is declared for config validation, with its default.
        """
        option = OfflineModule.optionSchema["max_messages"]
        self.assertEqual((option.kind, option.default), ("integer", 1000))


class DelayStampTests(unittest.TestCase):

    def test_format(self):
        """
        XEP-0082 §3.3 DateTime in UTC (XEP-0203 §3): CCYY-MM-DDThh:mm:ssZ,
        fractions of a second dropped.
        """
        self.assertEqual(delayStamp(EXAMPLE_TIME), "2002-09-10T23:08:25Z")
        self.assertEqual(delayStamp(0), "1970-01-01T00:00:00Z")


class ChatStateOnlyTests(unittest.TestCase):
    """
    L{isChatStateOnly}: XEP-0085 standalone notifications.
    """

    def test_standalone(self):
        self.assertTrue(isChatStateOnly(parse(
            "<message><composing xmlns='%s'/></message>" % (NS.CHAT_STATES,))))

    def test_withThread(self):
        """
        XEP-0085 §5.7: a notification may carry the thread it is about.
        """
        self.assertTrue(isChatStateOnly(parse(
            "<message><thread>t1</thread><paused xmlns='%s'/></message>" % (NS.CHAT_STATES,))))

    def test_withBody(self):
        self.assertFalse(isChatStateOnly(parse(
            "<message><body>Hi</body><active xmlns='%s'/></message>" % (NS.CHAT_STATES,))))

    def test_otherPayload(self):
        self.assertFalse(isChatStateOnly(parse(
            "<message><active xmlns='%s'/><x xmlns='jabber:x:oob'/></message>"
            % (NS.CHAT_STATES,))))

    def test_empty(self):
        self.assertFalse(isChatStateOnly(parse("<message/>")))


class StorageTests(OfflineTestCase):
    """
    What is stored, and what the sender is told (XEP-0160 §2, §3;
    RFC 6121 §8.5).
    """

    def test_storedWhenOffline(self):
        """
        XEP-0160 §2: a chat message to an account with no available
        resource is stored, and the sender gets no error.
        """
        self.send("Hello", id="m1")
        self.assertEqual(self.alice.take(), [])
        [stored] = self.stored()
        self.assertEqual(stored.tag, "{jabber:client}message")
        self.assertEqual(stored.get("to"), "bob@example.org")
        self.assertEqual(stored.get("from"), "alice@example.org/home")
        self.assertEqual(stored.get("id"), "m1")
        self.assertEqual(self.bodies([stored]), ["Hello"])
        [item] = self.successResultOf(self.archive.store.query("bob"))
        self.assertEqual(item.with_, "alice@example.org")

    def test_delayStamp(self):
        """
        XEP-0160 §2 and XEP-0203 §3: the stored copy carries
        C{<delay xmlns='urn:xmpp:delay' from='HOST' stamp='UTC'>Offline
        Storage</delay>}, stamped when the message arrived.
        """
        self.send()
        [stored] = self.stored()
        delay = self.delay(stored)
        self.assertIsNotNone(delay)
        self.assertEqual(delay.get("from"), "example.org")
        self.assertEqual(delay.get("stamp"), "2002-09-10T23:08:25Z")
        self.assertEqual(delay.text, "Offline Storage")

    def test_originalUntouched(self):
        """
        The delay goes on a copy: the stanza the router handed over is not
        changed.
        """
        stanza = parse("<message to='bob@example.org' type='chat'><body>Hi</body></message>")
        self.router.process(self.alice, stanza)
        self.assertIsNone(self.delay(stanza))
        self.assertEqual(len(stanza), 1)

    def test_normalAndNoType(self):
        """
        XEP-0160 §3: normal messages, and messages without type (normal,
        RFC 6121 §5.2.2), are stored.
        """
        self.send("one", type="normal")
        self.send("two", type=None)
        self.assertEqual(self.bodies(self.stored()), ["one", "two"])
        self.assertEqual(self.alice.take(), [])

    def test_toOfflineResource(self):
        """
        RFC 6121 §8.5.3.2.1: a chat message to a full JID with no such
        resource, and no resource online, is stored.
        """
        self.send("to a resource", to="bob@example.org/phone")
        [stored] = self.stored()
        self.assertEqual(stored.get("to"), "bob@example.org/phone")

    def test_notStoredWhenAvailable(self):
        """
        XEP-0160 §2: with an available resource of non-negative priority
        the message is delivered at once, unstamped, not stored.
        """
        bob = self.online("bob@example.org", "phone")
        self.send("Now")
        [received] = bob.take()
        self.assertEqual(self.bodies([received]), ["Now"])
        self.assertIsNone(self.delay(received))
        self.assertEqual(self.stored(), [])

    def test_connectedButUnavailable(self):
        """
        A bound session that has not sent presence is not available
        (RFC 6121 §4.2): the message is stored, not sent to it.
        """
        bob = self.connect("bob@example.org", "phone")
        self.send()
        self.assertEqual(bob.take(), [])
        self.assertEqual(len(self.stored()), 1)

    def test_storedWhenOnlyNegativePriority(self):
        """
        RFC 6121 §8.5.2.1.1: a resource of negative priority never gets
        messages to the bare JID; they are stored as if it were offline.
        """
        bob = self.online("bob@example.org", "phone", priority=-1)
        self.send()
        self.assertEqual(bob.take(), [])
        self.assertEqual(len(self.stored()), 1)

    def test_headlineDropped(self):
        """
        XEP-0160 §3, RFC 6121 §8.5.2.2.1: a headline is not stored, and
        is silently dropped.
        """
        self.send(type="headline")
        self.assertEqual(self.stored(), [])
        self.assertEqual(self.alice.take(), [])

    def test_groupchatRefused(self):
        """
        XEP-0160 §3, RFC 6121 §8.5.2.2.1: groupchat is not stored; the
        sender gets service-unavailable.
        """
        self.send(type="groupchat")
        self.assertEqual(self.stored(), [])
        [reply] = self.alice.take()
        self.assertEqual(stanzaErrorCondition(reply), "service-unavailable")

    def test_errorDropped(self):
        """
        XEP-0160 §3, RFC 6121 §8.5.2.2.1: an error message is not stored
        and not answered.
        """
        self.router.process(self.alice, parse(
            "<message to='bob@example.org' type='error'><error type='cancel'>"
            "<item-not-found xmlns='%s'/></error></message>" % (NS.STANZA_ERRORS,)))
        self.assertEqual(self.stored(), [])
        self.assertEqual(self.alice.take(), [])

    def test_chatStateOnlyNotStored(self):
        """
        XEP-0160 §3, XEP-0085 §5.8: a standalone chat state is not stored,
        and dropped without an error.
        """
        self.send(body=None, extra="<composing xmlns='%s'/>" % (NS.CHAT_STATES,))
        self.assertEqual(self.stored(), [])
        self.assertEqual(self.alice.take(), [])

    def test_chatStateWithBodyStored(self):
        self.send("Hi", extra="<active xmlns='%s'/>" % (NS.CHAT_STATES,))
        self.assertEqual(len(self.stored()), 1)

    def test_chatStateDeliveredWhenOnline(self):
        bob = self.online("bob@example.org", "phone")
        self.send(body=None, extra="<composing xmlns='%s'/>" % (NS.CHAT_STATES,))
        self.assertEqual(len(bob.take()), 1)

    def test_unknownAccount(self):
        """
        RFC 6121 §8.5.1: a message to an account that does not exist gets
        service-unavailable, and nothing is stored.
        """
        self.send(to="nobody@example.org", id="x1")
        [reply] = self.alice.take()
        self.assertEqual(stanzaErrorCondition(reply), "service-unavailable")
        self.assertEqual(reply.get("id"), "x1")
        self.assertEqual(reply.get("to"), "alice@example.org/home")
        self.assertEqual(self.stored("nobody"), [])

    def test_storageFailure(self):
        """
        A message that cannot be stored is not lost silently: the failure
        is logged and the sender gets internal-server-error.
        """
        self.archive.failAppend = True
        self.send(id="f1")
        [reply] = self.alice.take()
        self.assertEqual(stanzaErrorCondition(reply), "internal-server-error")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_accountRemoved(self):
        """
        The stored messages of an account removed in band go with it.
        """
        self.send()
        self.host.events.fireAll(ACCOUNT_REMOVED, "bob")
        self.assertEqual(self.stored(), [])


class LimitTests(OfflineTestCase):
    """
    XEP-0160 §2: "if the recipient's offline message queue is full, the
    server returns a <service-unavailable/> error to the sender".
    """

    options = {"max_messages": 2}

    def test_full(self):
        self.send("one")
        self.send("two")
        self.assertEqual(self.alice.take(), [])
        self.send("three", id="m3")
        [reply] = self.alice.take()
        self.assertEqual(stanzaErrorCondition(reply), "service-unavailable")
        self.assertEqual(reply.get("id"), "m3")
        text = reply.find("{jabber:client}error/{%s}text" % (NS.STANZA_ERRORS,))
        self.assertIn("full", text.text)
        self.assertEqual(self.bodies(self.stored()), ["one", "two"])

    def test_roomAgainAfterDelivery(self):
        self.send("one")
        self.send("two")
        bob = self.online("bob@example.org", "phone")
        self.assertEqual(len(bob.take()), 2)
        self.sendPresence(bob, priority=-1)
        self.send("three")
        self.assertEqual(self.alice.take(), [])
        self.assertEqual(self.bodies(self.stored()), ["three"])


class DeliveryTests(OfflineTestCase):
    """
    XEP-0160 §2: stored messages go to the first resource that sends
    available presence of non-negative priority, in order, once.
    """

    def test_deliveredInOrder(self):
        for body in ("one", "two", "three"):
            self.send(body)
        self.clock.advance(60)
        bob = self.online("bob@example.org", "phone")
        received = bob.take()
        self.assertEqual(self.bodies(received), ["one", "two", "three"])
        for stanza in received:
            self.assertEqual(stanza.tag, "{jabber:client}message")
            # RFC 6121 §8.5.2.1.1: 'to' is not rewritten.
            self.assertEqual(stanza.get("to"), "bob@example.org")
            self.assertEqual(self.delay(stanza).get("stamp"), "2002-09-10T23:08:25Z")
        self.assertEqual(self.stored(), [])

    def test_once(self):
        """
        Delivered messages are deleted: the next session gets nothing.
        """
        self.send()
        phone = self.online("bob@example.org", "phone")
        self.assertEqual(len(phone.take()), 1)
        laptop = self.online("bob@example.org", "laptop")
        self.assertEqual(laptop.take(), [])

    def test_presenceUpdateDeliversNothingAgain(self):
        """
        Only initial presence delivers; a later presence update of the same
        session does not send anything again.
        """
        self.send()
        bob = self.online("bob@example.org", "phone")
        bob.take()
        self.sendPresence(bob, priority=5)
        self.assertEqual(bob.take(), [])

    def test_negativePriorityGetsNothing(self):
        """
        XEP-0160 §2 and RFC 6121 §8.5.2.1.1: initial presence of negative
        priority delivers nothing; the messages wait until the session
        sends non-negative presence ("when the recipient next sends
        non-negative available presence").
        """
        self.send("one")
        bob = self.online("bob@example.org", "phone", priority=-1)
        self.assertEqual(bob.take(), [])
        self.assertEqual(len(self.stored()), 1)
        self.sendPresence(bob, priority=-2)
        self.assertEqual(bob.take(), [])
        self.sendPresence(bob, priority=0)
        self.assertEqual(self.bodies(bob.take()), ["one"])
        self.assertEqual(self.stored(), [])

    def test_exactlyOnceWithTwoSessions(self):
        """
        Two sessions coming online while the store is slow: the stored
        messages go to one of them, once, in order; a message arriving
        meanwhile comes after them rather than overtaking them, though a
        session is already available.
        """
        for body in ("one", "two", "three"):
            self.send(body)
        self.archive.paused = True
        phone = self.online("bob@example.org", "phone")
        laptop = self.online("bob@example.org", "laptop")
        self.send("four")
        self.assertEqual(phone.take() + laptop.take(), [])
        self.archive.release()
        self.assertEqual(self.bodies(phone.take()), ["one", "two", "three"])
        self.assertEqual(self.bodies(laptop.take()), ["four"])
        self.assertEqual(self.stored(), [])
        self.assertEqual(self.alice.take(), [])
        # The queue is idle again: new messages go straight through the
        # router, unstamped.
        self.send("five")
        [five] = laptop.take()
        self.assertIsNone(self.delay(five))

    def test_arrivingWhileAccountChecked(self):
        """
        A message claimed while the account check is pending, with the
        recipient coming online before it is stored, is delivered in order
        after it is stored, not left in storage.
        """
        self.auth.paused = True
        self.send("one")
        bob = self.online("bob@example.org", "phone")
        self.send("two")
        self.assertEqual(bob.take(), [])
        self.auth.release()
        self.assertEqual(self.bodies(bob.take()), ["one", "two"])
        self.assertEqual(self.stored(), [])

    def test_sessionGoneDuringDelivery(self):
        """
        If the session ends while the store is read, nothing is sent and
        nothing is deleted: the messages wait for the next session.
        """
        self.send()
        self.archive.paused = True
        bob = self.online("bob@example.org", "phone")
        bob.close()
        self.archive.release()
        self.assertEqual(bob.sent, [])
        self.assertEqual(len(self.stored()), 1)
        again = self.online("bob@example.org", "phone")
        self.assertEqual(len(again.take()), 1)

    def test_manyMessages(self):
        """
        More messages than one read from the store are all delivered, in
        order.
        """
        bodies = ["m%d" % (i,) for i in range(250)]
        for body in bodies:
            self.send(body)
        bob = self.online("bob@example.org", "phone")
        self.assertEqual(self.bodies(bob.take()), bodies)
        self.assertEqual(self.stored(), [])

    def test_unloadWaitsForQueuedWork(self):
        """
        Unloading waits until the messages already claimed are stored, so
        a shutdown does not lose them.
        """
        self.archive.paused = True
        self.send()
        d = defer.maybeDeferred(self.module.unload)
        self.assertNoResult(d)
        self.archive.release()
        self.successResultOf(d)
        self.assertEqual(len(self.stored()), 1)


class CountingArchive(GatedArchive):
    """
    A gated archive that counts its queries.
    """

    def __init__(self, store):
        GatedArchive.__init__(self, store)
        self.queries = 0

    def query(self, *args, **kwargs):
        self.queries += 1
        return GatedArchive.query(self, *args, **kwargs)


class CountingStorage(GatedStorage):

    def archive(self, host, name):
        key = (host, name)
        if key not in self.gates:
            self.gates[key] = CountingArchive(MemoryStorage.archive(self, host, name))
        return self.gates[key]


class HoldersTests(OfflineTestCase):
    """
    The module reads once, at load, which accounts have stored messages,
    and keeps that list: the logins of the others do not read the store.
    """

    storageClass = CountingStorage
    accounts = {"alice", "bob", "dave"}
    loadModule = False

    def setUp(self):
        OfflineTestCase.setUp(self)
        # Stored by an earlier run of the server.
        self.successResultOf(self.archive.store.append(
            "bob", b"<message xmlns='jabber:client' to='bob@example.org' "
                   b"from='carol@example.org/x' type='chat'><body>earlier</body></message>"))

    def test_storedBeforeLoadDelivered(self):
        self.module.load()
        bob = self.online("bob@example.org", "phone")
        self.assertEqual(self.bodies(bob.take()), ["earlier"])

    def test_othersNotRead(self):
        """
        An account without stored messages logs in without a read; one whose
        messages were all delivered is read no more either.
        """
        self.module.load()
        self.online("dave@example.org", "home")
        self.assertEqual(self.archive.queries, 0)
        bob = self.online("bob@example.org", "phone")
        self.assertEqual(self.bodies(bob.take()), ["earlier"])
        queries = self.archive.queries
        self.online("bob@example.org", "laptop")
        self.assertEqual(self.archive.queries, queries)

    def test_storedWhileListing(self):
        """
        A message stored while the list is being read is delivered.
        """
        self.archive.paused = True
        self.module.load()
        self.alice = self.online("alice@example.org", "home")
        self.send("meanwhile", to="dave@example.org")
        self.archive.release()
        dave = self.online("dave@example.org", "home")
        self.assertEqual(self.bodies(dave.take()), ["meanwhile"])

    def test_beforeListReadEveryLoginReads(self):
        self.archive.paused = True
        self.module.load()
        dave = self.online("dave@example.org", "home")
        self.assertEqual(self.archive.queries, 1)
        self.archive.release()
        self.assertEqual(dave.take(), [])
