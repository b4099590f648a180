"""
The blocking command (XEP-0191): a simple front end to privacy rules.

The blocklist is not stored here: XEP-0191 §6 asks for the back-end store
of privacy lists and recommends the blocked JIDs be the 'jid'/'deny' items
of the default privacy list, which is what the privacy module's
L{PrivacyModule.blocklist}, L{PrivacyModule.block} and
L{PrivacyModule.unblock} read and change.  Enforcement (inbound stanzas from
a blocked JID refused, outbound ones answered with C{not-acceptable} and
C{<blocked/>}, unavailable presence sent on block) is the privacy module's
filter.  What is left here is the protocol: the three requests, and the
pushes to the resources that asked for the blocklist.
"""

import secrets

from lxml import etree

from xmppframe.errors import StanzaError
from xmppframe.api import SESSION_ENDED, InvalidJID, IPrivacy, iqResponseEvent, Module, parseJID
from xmppframe.xml.stanza import makeElement, makeStanza

#: XEP-0191 §9.  (Here until it joins L{xmppframe.xml.namespaces}.)
BLOCKING = "urn:xmpp:blocking"

_PUSH_ID_PREFIX = "block-push-"


def _q(local):
    return "{%s}%s" % (BLOCKING, local)


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
        if child.tag != _q("item"):
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
    element = makeElement(BLOCKING, local)
    for jid in jids:
        etree.SubElement(element, _q("item")).set("jid", jid.full)
    return element


class BlockingModule(Module):
    """
    XEP-0191 for one host, on top of the privacy module's blocklist.
    """

    name = "blocking"
    summary = "the blocking command, on the privacy lists' store"
    xeps = ("XEP-0191",)
    dependencies = ("privacy",)

    def __init__(self, api):
        Module.__init__(self, api)
        # The sessions that requested the blocklist: they get the pushes
        # (XEP-0191 §3.3).  Forgotten when they end.
        self._interested = set()

    def load(self):
        self.api.addFeature(BLOCKING)
        self.api.hookIQ("get", "self", (BLOCKING, "blocklist"), self._onBlocklist)
        self.api.hookIQ("set", "self", (BLOCKING, "block"), self._onBlock)
        self.api.hookIQ("set", "self", (BLOCKING, "unblock"), self._onUnblock)
        self.api.hook(SESSION_ENDED, self._interested.discard)
        self.api.hook(iqResponseEvent("self"), self._onPushAnswer)

    @property
    def privacy(self):
        return self.api.service(IPrivacy)

    def _onBlocklist(self, event):
        """
        XEP-0191 §3.2: the blocked JIDs, possibly none.
        """
        if event.origin is not None:
            self._interested.add(event.origin)
        d = self.privacy.blocklist(event.sender.localpart)
        d.addCallback(lambda jids: itemsElement("blocklist", jids))
        return d

    def _onBlock(self, event):
        """
        XEP-0191 §3.3: at least one item, else bad-request.
        """
        jids = requestedJIDs(event.stanza[0])
        if not jids:
            raise StanzaError("bad-request", text="<block/> needs at least one item")
        d = self.privacy.block(event.sender.localpart, jids)
        d.addCallback(lambda _: self._push(event, "block", jids))
        return d

    def _onUnblock(self, event):
        """
        XEP-0191 §3.4 (the items given) and §3.5 (no items: all).
        """
        jids = requestedJIDs(event.stanza[0])
        d = self.privacy.unblock(event.sender.localpart, jids or None)
        d.addCallback(lambda _: self._push(event, "unblock", jids))
        return d

    def _push(self, event, local, jids):
        """
        Push the change, as requested, to every resource of the account
        that requested the blocklist; the iq result follows.
        """
        for session in self.api.sessions.sessionsFor(event.sender.bare):
            if session not in self._interested:
                continue
            iq = makeStanza("iq", to=session.jid, type="set",
                            id=_PUSH_ID_PREFIX + secrets.token_hex(6))
            iq.append(itemsElement(local, jids))
            session.send(iq)
        return True

    def _onPushAnswer(self, event):
        if (event.stanza.get("id") or "").startswith(_PUSH_ID_PREFIX):
            return True
        return None

