"""
Enforcement: the one place every privacy rule of an account, its
blocklist's included, is applied to stanzas (XEP-0016 §2.9–§2.14,
XEP-0191 §3.3).

Two filters, hooked by the module in the filter band of the router's
events: C{inbound/<kind>} on the recipient's host judges what an account
receives, C{outbound/<kind>} on the sender's host what it sends, including
the presence broadcast copies the server routes on its behalf (that is how
a blocked contact sees the account offline).  Each judges by its own
account's rules alone; a stanza between two local accounts meets both.

When the account's rules are in memory (every online account's are), a
filter answers at once: C{None} lets the stanza go on, C{True} stops it.
When they are not, it returns a Deferred of the load and then of that same
answer: the router holds the stanza, and later ones from the same origin
behind it, until it fires.
"""

import itertools
import secrets

from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import isError, makeElement

from xmppframe.modules.privacy.model import INBOUND, OUTBOUND, stanzaCategory


class PrivacyFilters:
    """
    The inbound and outbound filters of one host.

    @param api: the module's L{ModuleAPI}.
    @param policy: the host's L{PrivacyPolicy}.
    """

    def __init__(self, api, policy):
        self.api = api
        self.policy = policy
        # The ids of the unavailable presence the server is sending in an
        # account's name because its rules now hide it (see L{routeNotice}).
        self._notices = set()
        self._noticeIds = ("privacy-%s-%d" % (secrets.token_hex(4), n)
                           for n in itertools.count(1))

    # What an account receives

    def inbound(self, event):
        """
        §2.14, XEP-0191 §3.3: a stanza to an account from a sender its
        rules deny is refused.
        """
        to = event.to
        if event.sender.localpart is None and event.sender.domain == to.domain:
            # The account's own server is no contact of its.
            return None
        state = self.policy.ready(to.localpart)
        if state is None:
            return self._later(event, to.localpart, self._judgeInbound)
        return self._judgeInbound(event, state)

    def _judgeInbound(self, event, state):
        if not state.lists:
            # Most accounts have no lists: nothing to judge.
            return None
        category = stanzaCategory(event.kind, event.type, INBOUND)
        if self.policy.inboundDenial(state, event.to, event.sender, category) is None:
            return None
        # §2.14, XEP-0191 §3.3: presence is dropped silently; messages and
        # iq get/set are answered as if the account did not exist; an iq
        # result or error, or an error, is dropped.
        if event.kind == "message" or event.type in ("get", "set"):
            self._refuse(event, StanzaError("service-unavailable"))
        return True

    # What an account sends

    def outbound(self, event):
        """
        §2.11, §2.13, §2.14, XEP-0191 §3.3: a stanza from an account to a
        JID its rules deny is stopped.
        """
        to = event.to
        sender = event.sender
        if to is None or to.bare == sender.bare:
            # A broadcast (copies go out one by one) or the account itself
            # (XEP-0191 §5 note: never block one's own resources).
            return None
        if to.localpart is None and to.domain == sender.domain:
            return None
        if event.origin is None and self._isNotice(event.stanza):
            return None
        state = self.policy.ready(sender.localpart)
        if state is None:
            return self._later(event, sender.localpart, self._judgeOutbound)
        return self._judgeOutbound(event, state)

    def _judgeOutbound(self, event, state):
        if not state.lists:
            return None
        category = stanzaCategory(event.kind, event.type, OUTBOUND)
        item = self.policy.outboundDenial(state, self._senderSession(event), event.to, category)
        if item is None:
            return None
        if event.origin is not None and event.type not in ("result", "error"):
            # §2.14: not-acceptable; XEP-0191 §3.3 adds <blocked/> when the
            # recipient is on the blocklist.  What the server sends on the
            # account's behalf (broadcast copies, probe answers) is dropped
            # silently: the contact sees the account offline.
            appCondition = makeElement(NS.BLOCKING_ERRORS, "blocked") if item.isBlock else None
            self.api.router.bounce(event, StanzaError(
                "not-acceptable", type="cancel", appCondition=appCondition))
        return True

    def _senderSession(self, event):
        origin = event.origin
        if origin is not None and origin.kind == "c2s":
            return origin
        if event.sender.resource is not None:
            return self.api.sessions.sessionFor(event.sender)
        return None

    # What the server says in an account's name

    def _isNotice(self, stanza):
        """
        Whether C{stanza}, which the server routes in the account's name, is
        the server's own word that the account's rules must not stop:

          - an error: the answer to a stanza the account's rules refused
            inbound (§2.14), or one the router gives for the account, which
            the sender is owed whatever the account's rules;
          - an unavailable presence of L{routeNotice}.
        """
        if stanza.get("type") == "error":
            return True
        if self._notices:
            id = stanza.get("id")
            if id in self._notices:
                self._notices.discard(id)
                return True
        return False

    def routeNotice(self, presence):
        """
        Route C{presence}, an unavailable presence from one of an account's
        sessions to a contact its rules now hide it from, past that
        account's outbound filter: §2.11 and XEP-0191 §3.3 ask the server to
        tell the contact it went offline, which the new rules would stop.
        """
        id = next(self._noticeIds)
        presence.set("id", id)
        self._notices.add(id)
        self.api.router.route(presence)

    # Refusals

    def _refuse(self, event, error):
        """
        Answer a refused stanza with C{error}: to the session it came from,
        or routed back to its sender, past the account's own outbound
        filter (L{_isNotice}).
        """
        if not isError(event.stanza):
            self.api.router.bounce(event, error)

    # Waiting for the rules

    def _later(self, event, user, judge):
        """
        Wait for C{user}'s rules, then judge the stanza with them.  If they
        cannot be read, the stanza is not let through unjudged: its sender
        is told of an internal error (a message or iq get/set).
        """
        def failed(failure):
            self.api.log.failure("could not read the privacy rules of {user}", failure,
                                 user=user)
            if event.kind == "message" or event.type in ("get", "set"):
                self._refuse(event, StanzaError("internal-server-error"))
            return True

        d = self.policy.load(user)
        d.addCallback(lambda state: judge(event, state))
        d.addErrback(failed)
        return d
