"""
Name dictionaries that die with what a peer sent (RFC 6120 §13.12).

libxml2 stores every element name, attribute name, prefix and namespace
name it parses in a dictionary, and lxml makes every parser and every new
document of a thread share one such dictionary.  A dictionary never forgets
an entry, so every distinct name a peer ever sent would stay in memory for
the life of the process: a peer that sends 200,000 made-up names grows the
server by megabytes, for good.

lxml keeps the dictionary of a thread in a small context object, stored in
the thread's state dictionary (C{PyThreadState_GetDict}) under
L{_CONTEXT_KEY}; a thread that finds none there gets a new one, with a
new dictionary that is a child of lxml's global one (it sees the names
already known there, and adds new ones to itself).  Each document and each
parser holds a reference to the dictionary it was made with, so a child
dictionary is freed when its context object, its parsers and its documents
are all gone.  This is the mechanism lxml uses to give each thread its
own dictionary; a L{NameScope} uses it to give each stream its own:

  - L{NameScope()} makes a new context object (and so a new dictionary)
    without keeping it installed;
  - L{NameScope.install} puts it in the thread's state for the time of
    one read of the stream (parsing, and what the server does with the
    stanzas: copies, replies), and returns what was there, which
    L{restore} puts back.

The names a stream brings are then in its own dictionary, which goes away
with the stream's parser and the last element made while it was
installed.  L{NameScope.grown} tells how many names it holds of its own, so
that a long-lived stream can start a fresh one (L{xmppframe.xml.parser}).

Work a stanza causes later (when storage answers, a timer fires) runs
outside the stream's scope, with the thread's shared dictionary; so that
names cannot pile up there either, L{renewShared} replaces the shared one
with a fresh child once it has collected a number of names of its own (the
parser calls it after each read).  lxml's global dictionary then holds only
the names known when the first stream was read.

When lxml does not keep its context where this module expects (another
lxml version), L{AVAILABLE} is false and scopes do nothing: names are
then shared as lxml does by default.  A test checks that the expectation
holds for the lxml in use.
"""

import ctypes
import threading

from lxml import etree

__all__ = ["AVAILABLE", "NameScope", "restore", "dictSize", "renewShared"]

#: Where lxml keeps a thread's parser dictionary context.
_CONTEXT_KEY = "_ParserDictionaryContext"

_getThreadStateDict = ctypes.pythonapi.PyThreadState_GetDict
# A borrowed reference: read as an address and turned into an object with
# a reference of our own (a py_object return type would steal one).
_getThreadStateDict.restype = ctypes.c_void_p
_getThreadStateDict.argtypes = []
_local = threading.local()
_dictSize = etree.memory_debugger.dict_size
#: How many names the current thread's dictionary holds (with its parent's).
dictSize = _dictSize
#: What L{NameScope.install} returns when no context was installed.
_ABSENT = object()


def _threadState():
    """
    The current thread's state dictionary (the same object for the life of
    the thread, so it is looked up once per thread).
    """
    try:
        return _local.state
    except AttributeError:
        address = _getThreadStateDict()
        if not address:
            raise RuntimeError("no thread state dictionary")
        state = _local.state = ctypes.cast(address, ctypes.py_object).value
        return state


def _check():
    try:
        state = _threadState()
    except (RuntimeError, ValueError):
        return False
    etree.fromstring(b"<a/>")
    context = state.get(_CONTEXT_KEY)
    return context is not None and type(context).__name__ == _CONTEXT_KEY


#: Whether lxml keeps its dictionary context where this module expects.
AVAILABLE = _check()


class NameScope:
    """
    A name dictionary of its own for lxml, to be installed while one
    stream's data is handled.
    """

    __slots__ = ("_context", "base")

    def __init__(self):
        self._context = None
        self.base = 0
        if not AVAILABLE:
            return
        state = _threadState()
        previous = state.pop(_CONTEXT_KEY, None)
        try:
            # lxml makes a new context, with a new child dictionary, on
            # the first use of the dictionary in a thread that has none.
            self.base = _dictSize()
            self._context = state[_CONTEXT_KEY]
        finally:
            if previous is None:
                state.pop(_CONTEXT_KEY, None)
            else:
                state[_CONTEXT_KEY] = previous

    def install(self):
        """
        Make this the current thread's dictionary: lxml parsers started and
        documents made from now on use it.

        @return: what to pass to L{restore}.
        """
        context = self._context
        if context is None:
            return None
        state = _threadState()
        previous = state.get(_CONTEXT_KEY, _ABSENT)
        state[_CONTEXT_KEY] = context
        return previous

    def grown(self):
        """
        About how many names this dictionary holds of its own.  While it
        is installed, C{dictSize() - scope.base} says the same for less.
        """
        if self._context is None:
            return 0
        previous = self.install()
        try:
            return _dictSize() - self.base
        finally:
            restore(previous)


def restore(previous):
    """
    Put back the dictionary context that L{NameScope.install} replaced.
    """
    if previous is None:
        return
    if previous is _ABSENT:
        _threadState().pop(_CONTEXT_KEY, None)
    else:
        _threadState()[_CONTEXT_KEY] = previous


def renewShared(limit):
    """
    Call outside any stream's scope: when the thread's shared dictionary
    has collected more than C{limit} names of its own (or is still lxml's
    global one), put a new one in its place.  The old one is freed with
    the last document that uses it.
    """
    try:
        shared = _local.shared
    except AttributeError:
        shared = None
    if shared is not None and _dictSize() - shared.base <= limit:
        return
    if not AVAILABLE:
        return
    shared = _local.shared = NameScope()
    shared.install()
