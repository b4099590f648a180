"""
The jabber:iq:privacy protocol (XEP-0016 §2.3–§2.8): a client reads its
account's lists and sets its active list, its default list, or a list.
"""

from lxml import etree

from twisted.internet import defer

from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeElement

from xmppframe.modules.privacy.codec import ACTIVE, DEFAULT, LIST, listElement, parseList


class PrivacyProtocol:
    """
    The iq get and set handlers of one host.

    @param api: the module's L{ModuleAPI}; its options give the limits.
    @param policy: the host's L{PrivacyPolicy}.
    @param changes: the host's L{RuleChanges}.
    @param rosterService: a callable returning the host's L{IRoster} or
        C{None}.
    """

    def __init__(self, api, policy, changes, rosterService):
        self.api = api
        self.policy = policy
        self.changes = changes
        self._rosterService = rosterService

    def get(self, event):
        return defer.ensureDeferred(self._get(event))

    def set(self, event):
        return defer.ensureDeferred(self._set(event))

    @staticmethod
    def _children(event):
        return [child for child in event.stanza[0] if isinstance(child.tag, str)]

    async def _get(self, event):
        """
        §2.3: the names of the lists (with the active and default ones), or
        one list.
        """
        children = self._children(event)
        state = await self.policy.load(event.sender.localpart)
        query = makeElement(NS.PRIVACY, "query")
        if not children:
            active = state.active.get(event.origin)
            if active is not None:
                etree.SubElement(query, ACTIVE).set("name", active)
            if state.default is not None:
                etree.SubElement(query, DEFAULT).set("name", state.default)
            for name in sorted(state.lists):
                etree.SubElement(query, LIST).set("name", name)
            return query
        if len(children) > 1:
            raise StanzaError("bad-request", text="Only one list may be retrieved at a time")
        [child] = children
        if child.tag != LIST or not child.get("name"):
            raise StanzaError("bad-request", text="Expected a named <list/>")
        privacyList = state.lists.get(child.get("name"))
        if privacyList is None:
            raise StanzaError("item-not-found", text="No such list")
        listElement(privacyList, query)
        return query

    async def _set(self, event):
        """
        §2.4–§2.8: one <active/>, <default/> or <list/>.
        """
        children = self._children(event)
        if len(children) != 1:
            raise StanzaError("bad-request", text="A privacy set holds exactly one element")
        [child] = children
        state = await self.policy.load(event.sender.localpart)
        session = event.origin
        if child.tag == ACTIVE:
            return self._setActive(state, session, child.get("name"))
        if child.tag == DEFAULT:
            return await self._setDefault(state, session, child.get("name"))
        if child.tag == LIST:
            if not child.get("name"):
                raise StanzaError("bad-request", text="A list needs a name")
            if not any(isinstance(c.tag, str) for c in child):
                return await self._removeList(state, session, child.get("name"))
            return await self._storeList(state, child)
        raise StanzaError("bad-request", text="Expected <active/>, <default/> or <list/>")

    def _setActive(self, state, session, name):
        """
        §2.4: the server applies the list before it answers.
        """
        if session is None:
            raise StanzaError("bad-request", text="Only a session has an active list")
        if name is not None and name not in state.lists:
            raise StanzaError("item-not-found", text="No such list")
        before = self.changes.snapshot(state)
        if name is None:
            state.active.pop(session, None)
        else:
            state.active[session] = name
        self.changes.presenceRulesChanged(state, before)
        return True

    def _usedByOthers(self, state, session, name):
        """
        Whether list C{name} applies to a connected resource other than
        C{session} (§2.2 rule 11): as its active list, or as the default
        for a session without one.
        """
        for other in self.api.sessions.sessionsFor(state.jid):
            if other is session:
                continue
            active = state.active.get(other)
            if active == name or (active is None and name == state.default):
                return True
        return False

    def _defaultAppliesToOthers(self, state, session):
        """
        Whether the default list applies to a connected resource other
        than C{session}: one without an active list (§2.5).
        """
        return any(other is not session and other not in state.active
                   for other in self.api.sessions.sessionsFor(state.jid))

    async def _setDefault(self, state, session, name):
        """
        §2.5: item-not-found for an unknown list, conflict while the
        current default applies to another resource.
        """
        if name is not None and name not in state.lists:
            raise StanzaError("item-not-found", text="No such list")
        if name == state.default:
            return True
        if state.default is not None and self._defaultAppliesToOthers(state, session):
            raise StanzaError("conflict", text="The default list is in use by another resource")
        before = self.changes.snapshot(state)
        await self.changes.write(state, self.policy.setDefault(state, name))
        self.changes.presenceRulesChanged(state, before)
        return True

    async def _removeList(self, state, session, name):
        """
        §2.8: item-not-found if absent, conflict if another resource uses
        it; the pushes of §2.6 follow.
        """
        if name not in state.lists:
            raise StanzaError("item-not-found", text="No such list")
        if self._usedByOthers(state, session, name):
            raise StanzaError("conflict", text="The list is in use by another resource")
        before = self.changes.snapshot(state)
        await self.changes.write(state, self.policy.removeList(state, name))
        self.changes.pushList(state, name)
        self.changes.presenceRulesChanged(state, before)
        return True

    async def _storeList(self, state, element):
        """
        §2.6, §2.7: add or replace a whole list, push its name to every
        resource, and apply it at once where it applies (§2.2 rule 8).
        """
        options = self.api.options
        privacyList = parseList(element, options["max_items"])
        if privacyList.name not in state.lists and len(state.lists) >= options["max_lists"]:
            raise StanzaError("policy-violation",
                              text="An account may have %d lists at most" % (options["max_lists"],))
        await self._checkGroups(state, privacyList)
        if privacyList.needsRoster and state.roster is None:
            state.roster = await self.policy.loadRoster(state.jid.localpart)
        before = self.changes.snapshot(state)
        await self.changes.write(state, self.policy.setList(state, privacyList))
        self.changes.pushList(state, privacyList.name)
        self.changes.presenceRulesChanged(state, before)
        return True

    async def _checkGroups(self, state, privacyList):
        """
        §2.1: a group item names a group of the user's roster, else
        item-not-found (checked when there is a roster service).
        """
        groups = {item.value for item in privacyList.items if item.type == "group"}
        if not groups or self._rosterService() is None:
            return
        roster = state.roster
        if roster is None:
            roster = await self.policy.loadRoster(state.jid.localpart)
        known = {group for item in roster.values() for group in item.groups}
        missing = groups - known
        if missing:
            raise StanzaError("item-not-found",
                              text="Not a group of the roster: %s" % (sorted(missing)[0],))
