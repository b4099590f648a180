"""
A change of an account's rules, and what follows it: the change is made in
memory and then durably (L{PrivacyPolicy}), the changed list is pushed to
every resource (XEP-0016 §2.2 rule 10, §2.6), and each contact whose view
of the account's presence changed is told (§2.11; XEP-0191 §3.3, §3.4).
"""

from copy import deepcopy

from lxml import etree

from twisted.internet import defer

from xmppframe.api import InvalidJID, parseJID
from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeElement, makeStanza

from xmppframe.modules.privacy.codec import LIST
from xmppframe.modules.privacy.model import PRESENCE_OUT


class RuleChanges:
    """
    @param api: the module's L{ModuleAPI}.
    @param policy: the host's L{PrivacyPolicy}.
    @param filters: the host's L{PrivacyFilters}, which let the server's
        farewell presence past the new rules.
    """

    def __init__(self, api, policy, filters):
        self.api = api
        self.policy = policy
        self.filters = filters

    async def write(self, state, d):
        """
        Wait for a store write; if it fails, forget the account's state (it
        is read again from storage) and answer internal-server-error.
        """
        try:
            await d
        except Exception:
            self.api.log.failure("storing the privacy lists of {jid} failed", jid=state.jid)
            self.policy.forget(state.jid.localpart)
            raise StanzaError("internal-server-error")

    def pushList(self, state, name):
        """
        §2.2 rule 10, §2.6: a privacy list push, the list's name only, to
        every connected resource; their answers are absorbed.
        """
        query = makeElement(NS.PRIVACY, "query")
        etree.SubElement(query, LIST).set("name", name)
        self.api.push(state.jid.localpart, query)

    # Presence when the rules change (§2.11, XEP-0191 §3.3, §3.4)

    def snapshot(self, state):
        """
        The list that applies to each available session now: what
        L{presenceRulesChanged} compares the new rules with.
        """
        return {session: state.effectiveList(session)
                for session in self.api.sessions.sessionsFor(state.jid)
                if getattr(session, "available", False)}

    def presenceRulesChanged(self, state, before):
        """
        After a change of the rules, tell each contact allowed to see a
        session's presence before but not now that it is unavailable, and
        each one allowed now but not before its current presence.
        """
        changed = {session: old for session, old in before.items()
                   if state.effectiveList(session) is not old}
        if not changed:
            return
        d = defer.ensureDeferred(self._sendPresenceChanges(state, changed))
        d.addErrback(lambda f: self.api.log.failure(
            "telling contacts of {jid} of new presence rules failed", f, jid=state.jid))

    async def _sendPresenceChanges(self, state, changed):
        roster = await self.policy.loadRoster(state.jid.localpart)
        subscribers = [jid for jid, item in roster.items() if item.subscribedFrom]
        lookup = roster.get
        for session, old in changed.items():
            new = state.effectiveList(session)
            contacts = set(subscribers)
            for jid in getattr(session, "directedPresence", ()):
                try:
                    contacts.add(jid if not isinstance(jid, str) else parseJID(jid))
                except InvalidJID:
                    continue
            for contact in sorted(contacts, key=str):
                wasDenied = old is not None and old.denies(contact, PRESENCE_OUT, lookup)
                isDenied = new is not None and new.denies(contact, PRESENCE_OUT, lookup)
                if isDenied and not wasDenied:
                    self.filters.routeNotice(makeStanza(
                        "presence", to=contact, from_=session.jid, type="unavailable"))
                elif wasDenied and not isDenied and session.presence is not None:
                    presence = deepcopy(session.presence)
                    presence.set("to", contact.full)
                    presence.set("from", session.jid.full)
                    self.api.router.route(presence)
