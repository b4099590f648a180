"""
Private XML Storage (XEP-0049): an account keeps arbitrary XML fragments
on its server, each under the name (namespace and local name) of its root
element, readable only by the account itself.

The rules of XEP-0049 §2, and which error each broken one gets:

  - the query holds at least one element in a namespace of its own, else
    C{not-acceptable} (§2: "otherwise the server MUST respond with a 'Not
    Acceptable' error");
  - a get asks for exactly one element (§2: "A client MUST NOT query for
    more than one namespace in a single IQ get request"), else
    C{bad-request} (the "Bad Format" of §2's table, which RFC 6120 calls
    C{bad-request}, §8.3.3.1);
  - the reserved namespaces (C{jabber:*}, C{http://jabber.org/*},
    C{vcard-temp}) are refused with C{not-acceptable}, the optional
    behaviour §2 describes: they belong to protocols of their own, and a
    client storing there is mistaken;
  - a set may hold several elements (§2: "an IQ set ... MAY contain
    multiple elements"), each stored under its own name and replacing
    what was there; the same name twice in one set is C{bad-request},
    since one of them would be silently lost; an empty element (no
    attributes, children or text) deletes the name, as a get of it would
    answer the same empty element anyway;
  - a get answers the stored element, or, when nothing is stored under
    that name, the (empty) element asked for (§2 example);
  - only the account itself reads or writes its data (§2, §5): an iq
    addressed to another account gets C{forbidden}, the condition §2 calls
    preferable.

Everything an account stores is limited to C{max_size} bytes of XML in
all; a set that would go past it is refused with C{not-acceptable}
(RFC 6120 §8.3.3.9) and changes nothing.  Data lives in the map store
C{private}: per account, the root element's Clark name to its serialized
XML.
"""

from copy import deepcopy

from lxml import etree

from xmppframe.api import ACCOUNT_REMOVED, atLeast, KeyedQueue, Module, ModuleOption
from xmppframe.errors import StanzaError
from xmppframe.xml import namespaces as NS
from xmppframe.xml.safe import safeParser
from xmppframe.xml.stanza import makeElement, serialize

__all__ = ["PrivateStorageModule", "isReservedNamespace"]

#: Bytes of XML one account may store in all, by default.
DEFAULT_MAX_SIZE = 1024 * 1024

_RESERVED_PREFIXES = ("jabber:", "http://jabber.org/")
_RESERVED = frozenset({NS.VCARD})


def isReservedNamespace(namespace):
    """
    Whether XEP-0049 §2 calls C{namespace} reserved.
    """
    return namespace in _RESERVED or namespace.startswith(_RESERVED_PREFIXES)


def _isEmpty(element):
    return len(element) == 0 and not (element.text or "").strip() and not element.attrib


def _checkedChild(child):
    """
    The namespace of C{child}, a child of the query, after checking that
    it may be stored.
    """
    if not isinstance(child.tag, str):
        raise StanzaError("bad-request", text="Only elements may be stored")
    namespace = etree.QName(child).namespace
    if not namespace:
        raise StanzaError("not-acceptable", text="A stored element needs a namespace of its own")
    if isReservedNamespace(namespace):
        raise StanzaError("not-acceptable", text="The namespace %s is reserved" % (namespace,))
    return namespace


class PrivateStorageModule(Module):
    """
    Keeps the private XML of the accounts of its host (XEP-0049).
    """

    name = "private"
    summary = "private XML storage for each account"
    xeps = ("XEP-0049",)
    optionSchema = {
        "max_size": ModuleOption(
            "integer", DEFAULT_MAX_SIZE, atLeast(1),
            help="Bytes of XML one account may store in all; a set past it is "
                 "refused with not-acceptable (RFC 6120 §8.3.3.9)."),
    }

    def load(self):
        self._parser = safeParser()
        self._queues = KeyedQueue()
        self.maxSize = self.api.options["max_size"]
        if (not isinstance(self.maxSize, int) or isinstance(self.maxSize, bool)
                or self.maxSize < 1):
            raise ValueError("private: max_size must be a positive integer, got %r"
                             % (self.maxSize,))
        self.data = self.api.openStore("map", "private")
        # Not a disco feature XEP-0049 defines, but servers announce it
        # and clients look for it.
        self.api.addFeature(NS.PRIVATE)
        payload = (NS.PRIVATE, "query")  # XEP-0049 §2
        self.api.hookIQ("get", "self", payload, self.retrieve)
        self.api.hookIQ("set", "self", payload, self.store)
        for type in ("get", "set"):
            self.api.hookIQ(type, "bare", payload, self.refuse)
        self.api.hook(ACCOUNT_REMOVED, self.accountRemoved)

    def accountRemoved(self, user):
        """
        L{ACCOUNT_REMOVED}: the stored elements go with the account, after
        the writes queued for it.
        """
        return self._queues.run(user, self.data.clear, user)

    # IQ handlers

    def retrieve(self, event):
        """
        XEP-0049 §2: the stored element asked for, or the empty one.
        """
        query = event.stanza[0]
        children = list(query)
        if not children:
            raise StanzaError("not-acceptable", text="Name the element to retrieve")
        if len(children) > 1:
            raise StanzaError("bad-request", text="Retrieve one element at a time")
        asked = children[0]
        _checkedChild(asked)
        d = self.data.get(event.sender.localpart, asked.tag)
        d.addCallback(self._answerGet, asked)
        return d

    def _answerGet(self, text, asked):
        if text is None:
            element = deepcopy(asked)
            element.tail = None
        else:
            element = etree.fromstring(text.encode("utf-8"), self._parser)
        result = makeElement(NS.PRIVATE, "query")
        result.append(element)
        return result

    def store(self, event):
        """
        XEP-0049 §2: store each element of the query under its name.
        """
        children = list(event.stanza[0])
        if not children:
            raise StanzaError("not-acceptable", text="Nothing to store")
        entries = {}
        for child in children:
            _checkedChild(child)
            if child.tag in entries:
                raise StanzaError("bad-request", text="%s is given twice" % (child.tag,))
            if _isEmpty(child):
                entries[child.tag] = None
            else:
                copy = deepcopy(child)
                copy.tail = None
                entries[child.tag] = serialize(copy).decode("utf-8")
        user = event.sender.localpart
        d = self._queues.run(user, self._storeEntries, user, entries)
        d.addCallback(lambda _: True)
        return d

    async def _storeEntries(self, user, entries):
        stored = await self.data.items(user)
        sizes = {key: len(text.encode("utf-8")) for key, text in stored.items()}
        for key, text in entries.items():
            if text is None:
                sizes.pop(key, None)
            else:
                sizes[key] = len(text.encode("utf-8"))
        if sum(sizes.values()) > self.maxSize:
            raise StanzaError("not-acceptable", text="Private storage is limited to %d bytes"
                              % (self.maxSize,))
        for key, text in entries.items():
            if text is not None or key in stored:
                await self.data.set(user, key, text)

    def refuse(self, event):
        """
        XEP-0049 §2: another account's private data is not the sender's.
        """
        raise StanzaError("forbidden", text="Private XML belongs to its account only")
