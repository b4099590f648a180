"""
Tests for L{xmppframe.modules.lastactivity}: Last Activity (XEP-0012)
through the module harness, with the real roster module deciding who may
see an account's presence, and a clock for the times.
"""

import os
import re

from zope.interface.verify import verifyObject

from twisted.internet import defer
from twisted.trial import unittest

from xmppframe.api import ACCOUNT_REMOVED
from xmppframe.interfaces import IModule
from xmppframe.api.testing import ModuleHarness
from xmppframe.modules.lastactivity import LastActivityModule
from xmppframe.modules.roster import RosterModule
from xmppframe.xml import namespaces as NS

from tests.fakes import stanzaErrorCondition

_QUERY_TAG = "{jabber:iq:last}query"

#: When the tests start, on the harness's clock: 2008-11-26, the date of
#: XEP-0012 version 2.0.
START = 1227657600.0


class Accounts:
    """
    An account provider that knows only C{userExists}: what the module
    asks (RFC 6121 §8.5.1).
    """

    def __init__(self, *users):
        self.users = set(users)

    def userExists(self, username):
        return defer.succeed(username in self.users)


class LastActivityTestCase(unittest.TestCase):
    """
    juliet@capulet.com is the account asked about; romeo@montague.net (an
    account of a second host) and the nurse are her contacts; tybalt is
    not.
    """

    def setUp(self):
        self.harness = ModuleHarness(
            "capulet.com", auth=Accounts("juliet", "nurse", "tybalt", "benvolio"))
        self.clock = self.harness.clock
        self.clock.advance(START)
        self.harness.addHost("montague.net")
        self.roster = self.harness.load(RosterModule)
        self.module = self.harness.load(LastActivityModule)
        self.romeo = self.harness.client("romeo@montague.net/orchard", available=True)
        self.tybalt = self.harness.client("tybalt@capulet.com/street", available=True)
        self.nurse = self.harness.client("nurse@capulet.com/kitchen", available=True)
        self.subscribe("juliet", "romeo@montague.net", "both")
        self.subscribe("juliet", "nurse@capulet.com", "from")

    def subscribe(self, user, contact, subscription, ask=None):
        self.successResultOf(self.roster.updateSubscription(user, contact, subscription, ask))

    def login(self, jid="juliet@capulet.com/balcony"):
        """
        A session of C{jid} with initial presence.
        """
        session = self.harness.client(jid)
        self.harness.send(session, "<presence/>")
        session.take()
        return session

    def logout(self, session, status=None):
        """
        C{session} sends unavailable presence (with C{status}, when given)
        and its stream ends.
        """
        status = "" if status is None else "<status>%s</status>" % (status,)
        self.harness.send(session, "<presence type='unavailable'>%s</presence>" % (status,))
        session.close()

    def ask(self, session, to, type="get", payload="<query xmlns='jabber:iq:last'/>"):
        """
        C{session} sends a Last Activity query to C{to}.

        @return: the one stanza it gets back.
        """
        self.harness.send(session, "<iq type='%s' id='last1' to='%s'>%s</iq>"
                                   % (type, to, payload))
        [reply] = session.take()
        self.assertEqual(reply.get("id"), "last1")
        return reply

    def answer(self, session, to):
        """
        The C{(seconds, text)} of the result C{session} is given for its
        query to C{to} (XEP-0012 §2).
        """
        reply = self.ask(session, to)
        self.assertEqual(reply.get("type"), "result", stanzaErrorCondition(reply))
        self.assertEqual(reply.get("from"), to)
        [query] = reply
        self.assertEqual(query.tag, _QUERY_TAG)
        self.assertEqual(len(query), 0)
        return int(query.get("seconds")), query.text

    def refused(self, session, to, **kwargs):
        reply = self.ask(session, to, **kwargs)
        self.assertEqual(reply.get("type"), "error")
        return stanzaErrorCondition(reply)


class ModuleTests(LastActivityTestCase):

    def test_declaration(self):
        """
        The module declares what it is once, on the class.
        """
        self.assertTrue(verifyObject(IModule, self.module))
        self.assertEqual(LastActivityModule.name, "lastactivity")
        self.assertEqual(LastActivityModule.xeps, ("XEP-0012",))
        self.assertEqual(LastActivityModule.dependencies, ("roster",))

    def test_discoFeatures(self):
        """
        XEP-0012 §6: C{jabber:iq:last} is advertised for the server and for
        its accounts, and withdrawn with the module.
        """
        host = self.harness.host
        self.assertIn(NS.LAST_ACTIVITY, host.features())
        self.assertIn(NS.LAST_ACTIVITY, host.accountFeatures())
        self.harness.unload("lastactivity")
        self.assertNotIn(NS.LAST_ACTIVITY, host.features())
        self.assertNotIn(NS.LAST_ACTIVITY, host.accountFeatures())


class UptimeTests(LastActivityTestCase):

    def test_uptime(self):
        """
        XEP-0012 §5: a query to the server's domain is answered with the
        seconds since it started, and no text (the §5 example's 123456).
        """
        self.clock.advance(123456.7)
        self.assertEqual(self.answer(self.romeo, "capulet.com"), (123456, None))

    def test_fromStart(self):
        self.assertEqual(self.answer(self.tybalt, "capulet.com"), (0, None))

    def test_set(self):
        """
        Last Activity is only ever asked for: a set is not-allowed.
        """
        self.assertEqual(self.refused(self.romeo, "capulet.com", type="set"), "not-allowed")

    def test_malformed(self):
        """
        §11: the query holds text at most; a child element is bad-request
        (RFC 6120 §8.3.3.1).
        """
        self.assertEqual(self.refused(self.romeo, "capulet.com",
                                      payload="<query xmlns='jabber:iq:last'><x/></query>"),
                         "bad-request")


class OfflineUserTests(LastActivityTestCase):
    """
    XEP-0012 §3, the offline user query: to the account's bare JID,
    answered by the server on its behalf.
    """

    def test_sinceLogout(self):
        """
        §3: the seconds since the account logged out, and the status of
        its last unavailable presence (the example: 903 s, "Heading Home").
        """
        self.logout(self.login(), "Heading Home")
        self.clock.advance(903)
        self.assertEqual(self.answer(self.romeo, "juliet@capulet.com"), (903, "Heading Home"))

    def test_subscriptionFrom(self):
        """
        A contact with a subscription 'from' (it sees her presence) is told.
        """
        self.logout(self.login())
        self.clock.advance(60)
        self.assertEqual(self.answer(self.nurse, "juliet@capulet.com"), (60, None))

    def test_notSubscribed(self):
        """
        §3: someone not allowed to see her presence gets forbidden, online
        or not (§8: else it would leak her availability).
        """
        self.logout(self.login(), "Heading Home")
        self.assertEqual(self.refused(self.tybalt, "juliet@capulet.com"), "forbidden")
        self.login()
        self.assertEqual(self.refused(self.tybalt, "juliet@capulet.com"), "forbidden")

    def test_subscriptionToOrPending(self):
        """
        Her subscription to a contact's presence ('to'), or the contact's
        pending request, does not let the contact see hers.
        """
        self.subscribe("juliet", "tybalt@capulet.com", "to")
        benvolio = self.harness.client("benvolio@capulet.com/square", available=True)
        self.subscribe("juliet", "benvolio@capulet.com", "none", ask=True)
        self.logout(self.login())
        self.assertEqual(self.refused(self.tybalt, "juliet@capulet.com"), "forbidden")
        self.assertEqual(self.refused(benvolio, "juliet@capulet.com"), "forbidden")

    def test_online(self):
        """
        §3: with a connected or available resource, seconds='0' and no
        text; a session that has sent no presence is connected too.
        """
        self.login()
        self.assertEqual(self.answer(self.romeo, "juliet@capulet.com"), (0, None))
        self.harness.client("juliet@capulet.com/silent")
        self.clock.advance(10)
        self.assertEqual(self.answer(self.romeo, "juliet@capulet.com"), (0, None))

    def test_lastSessionCounts(self):
        """
        The account logs out when its last session ends: the time and
        status are that session's.
        """
        balcony = self.login()
        chamber = self.login("juliet@capulet.com/chamber")
        self.logout(balcony, "Going to bed")
        self.clock.advance(100)
        self.assertEqual(self.answer(self.romeo, "juliet@capulet.com"), (0, None))
        self.logout(chamber, "Heading Home")
        self.clock.advance(5)
        self.assertEqual(self.answer(self.romeo, "juliet@capulet.com"), (5, "Heading Home"))

    def test_noUnavailablePresence(self):
        """
        A stream that ends without unavailable presence has no status to
        tell, whatever its available presence said.
        """
        balcony = self.harness.client("juliet@capulet.com/balcony")
        self.harness.send(balcony, "<presence><status>Waiting</status></presence>")
        balcony.close()
        self.clock.advance(7)
        self.assertEqual(self.answer(self.romeo, "juliet@capulet.com"), (7, None))

    def test_relogin(self):
        """
        A later logout replaces the earlier one.
        """
        self.logout(self.login(), "First")
        self.clock.advance(1000)
        self.logout(self.login(), "Second")
        self.clock.advance(2)
        self.assertEqual(self.answer(self.romeo, "juliet@capulet.com"), (2, "Second"))

    def test_durable(self):
        """
        The logout is stored: a module loaded again (a restart) still
        knows it, and counts from it, not from its own start.
        """
        self.logout(self.login(), "Heading Home")
        self.clock.advance(50)
        self.harness.unload("lastactivity")
        self.module = self.harness.load(LastActivityModule)
        self.clock.advance(50)
        self.assertEqual(self.answer(self.romeo, "juliet@capulet.com"), (100, "Heading Home"))
        self.assertEqual(self.answer(self.romeo, "capulet.com"), (50, None))

    def test_nothingRecorded(self):
        """
        An account never seen logging out: nothing to tell
        (service-unavailable, as for a service the server does not have).
        """
        self.assertEqual(self.refused(self.romeo, "juliet@capulet.com"), "service-unavailable")

    def test_unknownAccount(self):
        """
        RFC 6121 §8.5.1: an iq to an account that does not exist is
        answered service-unavailable.
        """
        self.assertEqual(self.refused(self.romeo, "rosaline@capulet.com"),
                         "service-unavailable")

    def test_accountRemoved(self):
        """
        The record goes with the account (XEP-0077 §3.2).
        """
        self.logout(self.login(), "Heading Home")
        self.harness.host.events.fireAll(ACCOUNT_REMOVED, "juliet")
        store = self.harness.storage.keyValue("capulet.com", "lastactivity")
        self.assertIsNone(self.successResultOf(store.get("juliet")))

    def test_clockBack(self):
        """
        A clock set back before the logout gives 0, never a negative
        number (the schema's xs:unsignedLong, §11).
        """
        self.logout(self.login())
        self.clock.rightNow -= 3600
        self.assertEqual(self.answer(self.romeo, "juliet@capulet.com"), (0, None))

    def test_set(self):
        self.logout(self.login())
        self.assertEqual(self.refused(self.romeo, "juliet@capulet.com", type="set"),
                         "not-allowed")

    def test_malformed(self):
        self.logout(self.login())
        self.assertEqual(self.refused(self.romeo, "juliet@capulet.com",
                                      payload="<query xmlns='jabber:iq:last'><x/></query>"),
                         "bad-request")


class OwnAccountTests(LastActivityTestCase):

    def test_ownBareJID(self):
        """
        The account may ask about itself: it is connected, so '0' (§3).
        """
        balcony = self.login()
        self.assertEqual(self.answer(balcony, "juliet@capulet.com"), (0, None))

    def test_noTo(self):
        """
        An iq with no 'to' is handled on the account's behalf
        (RFC 6120 §10.3.3): the same answer.
        """
        balcony = self.login()
        self.harness.send(balcony, "<iq type='get' id='own'><query xmlns='jabber:iq:last'/></iq>")
        [reply] = balcony.take()
        self.assertEqual(reply.get("type"), "result")
        self.assertEqual(reply[0].get("seconds"), "0")


class OnlineUserTests(LastActivityTestCase):
    """
    XEP-0012 §4, the online user query: to a full JID, the client's to
    answer, and the server's to stop when the sender may not see her
    presence.
    """

    def test_delivered(self):
        """
        A contact's query goes to the client, whose answer (its idle time)
        goes back.
        """
        balcony = self.login()
        self.harness.send(self.romeo, "<iq type='get' id='last2' to='juliet@capulet.com/balcony'>"
                                      "<query xmlns='jabber:iq:last'/></iq>")
        [query] = balcony.take()
        self.assertEqual((query.get("type"), query.get("from")),
                         ("get", "romeo@montague.net/orchard"))
        self.harness.send(balcony, "<iq type='result' id='last2' to='romeo@montague.net/orchard'>"
                                   "<query xmlns='jabber:iq:last' seconds='123'/></iq>")
        [answer] = self.romeo.take()
        self.assertEqual(answer[0].get("seconds"), "123")

    def test_forbidden(self):
        """
        §4: the server MUST NOT deliver the query of someone not allowed
        to see her presence, and answers forbidden itself.
        """
        balcony = self.login()
        reply = self.ask(self.tybalt, "juliet@capulet.com/balcony")
        self.assertEqual(stanzaErrorCondition(reply), "forbidden")
        self.assertEqual(balcony.take(), [])

    def test_forbiddenWhetherOrNotOnline(self):
        """
        A stranger learns nothing from a resource that is not there: the
        answer is forbidden too, not service-unavailable.
        """
        self.assertEqual(self.refused(self.tybalt, "juliet@capulet.com/balcony"), "forbidden")

    def test_ownResources(self):
        """
        Her own resources ask each other freely.
        """
        balcony = self.login()
        chamber = self.login("juliet@capulet.com/chamber")
        self.harness.send(chamber, "<iq type='get' id='last2' to='juliet@capulet.com/balcony'>"
                                   "<query xmlns='jabber:iq:last'/></iq>")
        self.assertEqual(len(balcony.take()), 1)

    def test_otherPayloadsUntouched(self):
        """
        Only Last Activity queries are screened.
        """
        balcony = self.login()
        self.harness.send(self.tybalt, "<iq type='get' id='v1' to='juliet@capulet.com/balcony'>"
                                       "<query xmlns='jabber:iq:version'/></iq>")
        self.assertEqual(len(balcony.take()), 1)


class TutorialTests(unittest.TestCase):
    """
    docs/writing-a-module.md builds this module; what it quotes must be
    the code as it is.
    """

    def test_quotesMatch(self):
        """
        Every code block that starts with C{# from PATH} appears, line for
        line, in the file at PATH.
        """
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        with open(os.path.join(root, "docs", "writing-a-module.md"), encoding="utf-8") as f:
            text = f.read()
        blocks = re.findall(r"```python\n# from (\S+)\n(.*?)```", text, re.S)
        self.assertGreater(len(blocks), 5)
        for path, block in blocks:
            with open(os.path.join(root, path), encoding="utf-8") as f:
                source = f.read()
            self.assertIn(block, source, "docs/writing-a-module.md quotes %s wrongly" % (path,))
