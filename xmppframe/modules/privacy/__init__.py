"""
Privacy lists (XEP-0016, first specified as RFC 3921 §10 "Blocking
Communication"), and the one mechanism that enforces every privacy rule of
an account, the blocking command's (XEP-0191) included.

One job per file:
  - L{model}: items, lists and which item matches which stanza (§2.1,
    §2.2);
  - L{codec}: lists as XML and back, with the host's limits (§2.1, §8);
  - L{policy}: each account's rules in memory, loaded, cached and written
    through;
  - L{filters}: the inbound and outbound enforcement (§2.9–§2.14);
  - L{protocol}: the jabber:iq:privacy get and set (§2.3–§2.8);
  - L{changes}: what follows a change of the rules: list pushes (§2.6),
    presence to contacts whose view changed (§2.11);
  - L{blocklist}: the blocked JIDs as the default list's block items, the
    L{IPrivacy} service of the blocking command (XEP-0191 §5).
"""

from xmppframe.api import (
    ACCOUNT_REMOVED, ROSTER_CHANGED, SESSION_BOUND, SESSION_ENDED, IPrivacy, IRoster, Module,
    ModuleOption, Priority, atLeast, inboundEvent, outboundEvent)
from xmppframe.xml import namespaces as NS

from xmppframe.modules.privacy.blocklist import Blocklist
from xmppframe.modules.privacy.changes import RuleChanges
from xmppframe.modules.privacy.filters import PrivacyFilters
from xmppframe.modules.privacy.policy import PrivacyPolicy
from xmppframe.modules.privacy.protocol import PrivacyProtocol

__all__ = ["PrivacyModule"]


class PrivacyModule(Module):
    """
    XEP-0016 for one host:

      - §3: the server advertises jabber:iq:privacy;
      - §2.3–§2.8: a client reads its account's lists and sets its active
        list, its default list, or a list, with no 'to' (its own account);
      - §2.6: every change of a list is pushed, by name, to each of the
        account's resources;
      - §2.2 rules 1–4: the active list of a session, else the default
        list, judges each stanza the account sends or receives, before any
        other delivery rule: §2.9–§2.13 say what each kind of item stops,
        and §2.14 how a refused stanza is answered;
      - §2.2 rule 9: 'group' and 'subscription' items follow the roster
        as it changes;
      - §2.11 and XEP-0191 §3.3: a contact the new rules hide the
        account's presence from is told it went offline;
      - XEP-0191 §5: the blocklist is the default list's block items,
        offered to the blocking command as L{IPrivacy}.

    An account's rules are read when one of its sessions binds and kept
    while it is online; a stanza judged before they are in memory waits
    for them (the router holds it, and what its origin sends after it).
    """

    name = "privacy"
    summary = "privacy lists, and the filter enforcing them and the blocklist"
    dependencies = ("roster",)
    xeps = ("XEP-0016",)
    optionSchema = {
        "max_lists": ModuleOption(
            "integer", 50, atLeast(1),
            help="Privacy lists one account may keep (XEP-0016 §2.2 asks for a limit)."),
        "max_items": ModuleOption(
            "integer", 250, atLeast(1),
            help="Items in one privacy list, and blocked JIDs (XEP-0191)."),
        "cache_size": ModuleOption(
            "integer", 1000, atLeast(1),
            help="Accounts without sessions whose lists stay in memory."),
    }

    def load(self):
        api = self.api
        self.policy = PrivacyPolicy(
            api.openStore("map", "privacy"), api.sessions, api.host.name,
            self._rosterService, api.options["cache_size"], api.log)
        self.filters = PrivacyFilters(api, self.policy)
        changes = RuleChanges(api, self.policy, self.filters)
        protocol = PrivacyProtocol(api, self.policy, changes, self._rosterService)

        api.addFeature(NS.PRIVACY)
        api.hookIQ("get", "self", (NS.PRIVACY, "query"), protocol.get)
        api.hookIQ("set", "self", (NS.PRIVACY, "query"), protocol.set)
        for kind in ("message", "presence", "iq"):
            api.hook(inboundEvent(kind), self.filters.inbound, Priority.FILTER)
            api.hook(outboundEvent(kind), self.filters.outbound, Priority.FILTER)
        api.hook(SESSION_BOUND, self._onSessionBound)
        api.hook(SESSION_ENDED, self.policy.sessionEnded)
        api.hook(ROSTER_CHANGED, self._onRosterChanged)
        api.hook(ACCOUNT_REMOVED, self._onAccountRemoved)
        api.provide(IPrivacy, Blocklist(self.policy, changes))

    def _rosterService(self):
        return self.api.service(IRoster)

    def _onSessionBound(self, session):
        """
        Read the account's rules as its session binds, so that its stanzas
        are judged at once.
        """
        self.policy.sessionBound(session)
        self.policy.load(session.jid.localpart).addErrback(
            lambda f: self.api.log.failure("loading the privacy lists of {jid} failed", f,
                                           jid=session.jid))

    def rosterChanged(self, user, contact, item):
        """
        C{user}'s roster item for bare JID C{contact} is now C{item}
        (C{None}: removed): group and subscription items follow it
        (§2.2 rule 9).
        """
        self.policy.rosterChanged(user, contact, item)

    def _onRosterChanged(self, change):
        """
        L{ROSTER_CHANGED}: the roster module stored a change.
        """
        self.rosterChanged(change.user, change.contact, change.item)

    def _onAccountRemoved(self, user):
        """
        The account is gone (XEP-0077 §3.2): so are its lists (and so its
        blocklist, XEP-0191 §5).  The removal waits for the Deferred.
        """
        return self.policy.removeAccount(user)
