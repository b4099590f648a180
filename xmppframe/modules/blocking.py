"""
The blocking command (XEP-0191): a simple front end to privacy rules.

The blocklist is not stored here: XEP-0191 §5 asks for the back-end store
of privacy lists and recommends the blocked JIDs be the 'jid'/'deny' items
of the default privacy list, which is what the privacy module's L{IPrivacy}
service reads and changes.  Enforcement (inbound stanzas from a blocked JID
refused, outbound ones answered with C{not-acceptable} and C{<blocked/>},
unavailable presence sent on block) is the privacy module's filter.  What
is left here is the protocol: the three requests, and the pushes to the
resources that asked for the blocklist.
"""

from lxml import etree

from xmppframe.api import SESSION_ENDED, InvalidJID, IPrivacy, Module, parseJID
from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeElement

_ITEM = NS.qname(NS.BLOCKING, "item")


def requestedJIDs(element):
    """
    The JIDs of the C{<item jid='...'/>} children of a C{<block/>} or
    C{<unblock/>}, in order.

    @raise StanzaError: C{jid-malformed} for a missing or invalid address,
        C{bad-request} for anything but items.
    """
    jids = []
    for child in element:
        if not isinstance(child.tag, str):
            continue
        if child.tag != _ITEM:
            raise StanzaError("bad-request", text="Only <item/> elements are allowed here")
        text = child.get("jid")
        if text is None:
            raise StanzaError("jid-malformed", text="An item needs a 'jid'")
        try:
            jids.append(parseJID(text))
        except InvalidJID as e:
            raise StanzaError("jid-malformed", text=str(e))
    return jids


def itemsElement(local, jids):
    """
    A C{<blocklist/>}, C{<block/>} or C{<unblock/>} with one item per JID.
    """
    element = makeElement(NS.BLOCKING, local)
    for jid in jids:
        etree.SubElement(element, _ITEM).set("jid", jid.full)
    return element


class BlockingModule(Module):
    """
    XEP-0191 for one host, on top of the privacy module's blocklist:

      - §3.1: the server advertises urn:xmpp:blocking;
      - §3.2: a client retrieves the blocklist, and so asks for pushes;
      - §3.3: it blocks JIDs, §3.4 unblocks some, §3.5 all; each change is
        pushed to every resource of the account that retrieved the
        blocklist.
    """

    name = "blocking"
    summary = "the blocking command, on the privacy lists' store"
    xeps = ("XEP-0191",)
    dependencies = ("privacy",)

    def __init__(self, api):
        Module.__init__(self, api)
        # The sessions that requested the blocklist: they get the pushes
        # (§3.3).  Forgotten when they end.
        self._interested = set()

    def load(self):
        self.api.addFeature(NS.BLOCKING)
        self.api.hookIQ("get", "self", (NS.BLOCKING, "blocklist"), self._onBlocklist)
        self.api.hookIQ("set", "self", (NS.BLOCKING, "block"), self._onBlock)
        self.api.hookIQ("set", "self", (NS.BLOCKING, "unblock"), self._onUnblock)
        self.api.hook(SESSION_ENDED, self._interested.discard)

    @property
    def privacy(self):
        return self.api.service(IPrivacy)

    def _onBlocklist(self, event):
        """
        §3.2: the blocked JIDs, possibly none.
        """
        if event.origin is not None:
            self._interested.add(event.origin)
        d = self.privacy.blocklist(event.sender.localpart)
        d.addCallback(lambda jids: itemsElement("blocklist", jids))
        return d

    def _onBlock(self, event):
        """
        §3.3: at least one item, else bad-request.
        """
        jids = requestedJIDs(event.stanza[0])
        if not jids:
            raise StanzaError("bad-request", text="<block/> needs at least one item")
        d = self.privacy.block(event.sender.localpart, jids)
        d.addCallback(lambda _: self._push(event, "block", jids))
        return d

    def _onUnblock(self, event):
        """
        §3.4 (the items given) and §3.5 (no items: all).
        """
        jids = requestedJIDs(event.stanza[0])
        d = self.privacy.unblock(event.sender.localpart, jids or None)
        d.addCallback(lambda _: self._push(event, "unblock", jids))
        return d

    def _push(self, event, local, jids):
        """
        Push the change, as requested, to every resource of the account
        that requested the blocklist (§3.3, §3.4, §3.5); the iq result
        follows.  Their answers are absorbed.
        """
        sessions = [session for session in self.api.sessions.sessionsFor(event.sender.bare)
                    if session in self._interested]
        if sessions:
            self.api.push(event.sender.localpart, itemsElement(local, jids), sessions)
        return True
