"""
The module API: everything a feature module may use of xmppframe, and
nothing else.

A module imports this package, L{xmppframe.xml} and L{xmppframe.errors},
and no other part of xmppframe (C{tests/test_architecture.py} holds every
built-in module to it): the streams, the config parser, the storage
drivers and other modules are reached only through the L{ModuleAPI} its
host gives it, and modules offer each other services by interface
(L{ModuleAPI.provide}, L{ModuleAPI.service}).  C{docs/writing-a-module.md}
builds a module with it.

What is here:
  - L{Module}, L{ModuleAPI}: a module's declaration and its handle on the
    host; L{ModuleOption}, L{atLeast}, L{oneOf}: its option schema;
    L{Priority}: the bands handlers hook in; L{InformativeFeature}: an
    advertised stream feature.
  - Event names, built only by these helpers (L{stanzaEvent},
    L{iqEvent}, ...), and what their handlers receive.
  - Addresses (L{JID}, L{parseJID}, L{InvalidJID}), the account errors of
    the host's account provider, the roster model and service
    (L{IRoster}, L{RosterItem}), the services of disco, caps and privacy
    (L{IDisco}, L{ICaps}, L{IPrivacy}), and the helpers modules share
    (L{KeyedQueue}, L{UsersWithData}, the presence helpers).
"""

import xmppframe as _xmppframe
from xmppframe.auth import InvalidPassword, NoSuchUser, UserExists
from xmppframe.events import (
    ACCOUNT_REMOVED, INITIAL_PRESENCE, MESSAGE_ANNOTATE, MESSAGE_DELIVERED, ROSTER_CHANGED,
    SESSION_BOUND, SESSION_ENDED, MessageAnnotation, MessageDelivery, RosterChange, StanzaEvent,
    inboundEvent, iqEvent, iqResponseEvent, outboundEvent, stanzaEvent)
from xmppframe.interfaces import ICaps, IDisco, IPrivacy, IRoster
from xmppframe.jid import JID, InvalidJID, JIDCache, makeJID, parseJID, prepareLocalpart
from xmppframe.rosteritem import SUBSCRIPTIONS, RosterItem

from xmppframe.api.features import InformativeFeature
from xmppframe.api.keyedqueue import KeyedQueue
from xmppframe.api.module import Module, ModuleAPI
from xmppframe.api.options import ModuleOption, atLeast, oneOf
from xmppframe.api.presence import (
    accountExists, addressed, availableSessions, currentPresence, unavailablePresence)
from xmppframe.api.priorities import Priority
from xmppframe.api.requests import RequestTimedOut
from xmppframe.api.userset import UsersWithData

#: The server's version, as it reports it (XEP-0092).
SERVER_VERSION = _xmppframe.__version__

__all__ = [
    # Declaring a module
    "Module", "ModuleAPI", "ModuleOption", "atLeast", "oneOf", "Priority",
    "InformativeFeature", "RequestTimedOut", "SERVER_VERSION",
    # Events
    "ACCOUNT_REMOVED", "INITIAL_PRESENCE", "MESSAGE_ANNOTATE", "MESSAGE_DELIVERED",
    "ROSTER_CHANGED", "SESSION_BOUND", "SESSION_ENDED", "MessageAnnotation", "MessageDelivery",
    "RosterChange", "StanzaEvent", "inboundEvent", "iqEvent", "iqResponseEvent",
    "outboundEvent", "stanzaEvent",
    # Addresses and accounts
    "JID", "InvalidJID", "JIDCache", "makeJID", "parseJID", "prepareLocalpart",
    "InvalidPassword", "NoSuchUser", "UserExists",
    # Services between modules
    "ICaps", "IDisco", "IPrivacy", "IRoster", "RosterItem", "SUBSCRIPTIONS",
    # Shared helpers
    "KeyedQueue", "UsersWithData", "accountExists", "addressed", "availableSessions",
    "currentPresence", "unavailablePresence",
]
