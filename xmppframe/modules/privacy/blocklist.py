"""
The blocklist (XEP-0191) on the privacy lists' store: the service the
privacy module offers the blocking command's module as L{IPrivacy}.

XEP-0191 §5 asks for one back end for both protocols and recommends that
the blocked JIDs be items of type 'jid' and action 'deny', with no child
elements (every stanza, both directions), of the default privacy list, and
that they come first in it.  So blocking a JID changes the default list
(made, and made the default, when there is none) and unblocking removes
its item; the list push (XEP-0016 §2.6) and the presence the change calls
for (XEP-0191 §3.3, §3.4) follow, as for any change of the rules.
"""

from zope.interface import implementer

from twisted.internet import defer

from xmppframe.api import IPrivacy

from xmppframe.modules.privacy.model import DENY, PrivacyItem, PrivacyList

#: The name of the default list made when the user has none.
BLOCKLIST_NAME = "blocklist"


@implementer(IPrivacy)
class Blocklist:
    """
    @param policy: the host's L{PrivacyPolicy}.
    @param changes: the host's L{RuleChanges}.
    """

    def __init__(self, policy, changes):
        self.policy = policy
        self.changes = changes

    def blocklist(self, user):
        """
        @return: Deferred firing with the list of blocked JIDs of C{user}.
        """
        return self.policy.load(user).addCallback(lambda state: state.blocked())

    def block(self, user, jids):
        """
        Block C{jids} (L{JID}s) for C{user}: add them as block items at the
        top of the default list, made (and made the default) if there is
        none; push the list and send unavailable presence where due.

        @return: Deferred firing with the JIDs newly blocked.
        """
        return defer.ensureDeferred(self._block(user, list(jids)))

    def unblock(self, user, jids=None):
        """
        Remove C{jids} (all blocked JIDs with C{None}) from the blocklist.

        @return: Deferred firing with the JIDs unblocked.
        """
        return defer.ensureDeferred(self._unblock(user, None if jids is None else list(jids)))

    async def _block(self, user, jids):
        state = await self.policy.load(user)
        current = state.defaultList
        already = set(state.blocked())
        new = []
        for jid in jids:
            if jid not in already and jid not in new:
                new.append(jid)
        if not new:
            return []
        items = list(current.items) if current is not None else []
        lowest = min((item.order for item in items), default=len(new))
        if lowest >= len(new):
            # §5: blocked items come first in the list.
            blocks = [PrivacyItem(DENY, lowest - len(new) + i, "jid", jid)
                      for i, jid in enumerate(new)]
        else:
            blocks = [PrivacyItem(DENY, i, "jid", jid) for i, jid in enumerate(new)]
            items = [PrivacyItem(item.action, len(new) + i, item.type, item.value, item.kinds)
                     for i, item in enumerate(items)]
        name = current.name if current is not None else self._freeName(state)
        changes = self.changes
        before = changes.snapshot(state)
        await changes.write(state, self.policy.setList(state, PrivacyList(name, tuple(blocks + items))))
        if current is None:
            await changes.write(state, self.policy.setDefault(state, name))
        changes.pushList(state, name)
        changes.presenceRulesChanged(state, before)
        return new

    async def _unblock(self, user, jids):
        state = await self.policy.load(user)
        current = state.defaultList
        if current is None:
            return []
        wanted = None if jids is None else set(jids)
        kept, removed = [], []
        for item in current.items:
            if item.isBlock and (wanted is None or item.value in wanted):
                removed.append(item.value)
            else:
                kept.append(item)
        if not removed:
            return []
        changes = self.changes
        before = changes.snapshot(state)
        await changes.write(state, self.policy.setList(state, PrivacyList(current.name, tuple(kept))))
        changes.pushList(state, current.name)
        changes.presenceRulesChanged(state, before)
        return removed

    @staticmethod
    def _freeName(state):
        name = BLOCKLIST_NAME
        counter = 1
        while name in state.lists:
            counter += 1
            name = "%s-%d" % (BLOCKLIST_NAME, counter)
        return name
