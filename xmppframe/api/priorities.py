"""
Named priority bands for event handlers.

Handlers of one event run from the highest band to the lowest, and in the
order they were hooked (which is module load order, dependencies first)
within a band.  Modules name a band instead of a number, so that "runs
before the privacy filter" is said once, here, and not as numbers that
disagree with their comments.
"""

from enum import IntEnum


class Priority(IntEnum):
    """
    The bands, highest first.
    """

    #: Sees a stanza before anything may stop or claim it, and never
    #: claims it: noting directed presence (RFC 6121 §4.6), a client's
    #: entity capabilities (XEP-0115), a session's priority change.
    NOTE = 2000
    #: Takes an account's own stanza that the server acts on for it, such
    #: as a subscription request (RFC 6121 §3.1.2), before the filters:
    #: those then judge what the server sends on the account's behalf.
    ACCOUNT = 1500
    #: May stop a stanza, and runs before every rule that delivers it:
    #: privacy lists and blocking (XEP-0016 §2.2 rule 4, XEP-0191).
    FILTER = 1000
    #: Claims a stanza to deliver it some other way than the default
    #: rules would, before the default-band handlers.
    BEFORE_DELIVERY = 100
    #: Most handlers.
    DEFAULT = 0
    #: Sees what the filters let through and never claims it: carbon
    #: copies of sent messages (XEP-0280), archiving.
    OBSERVE = -1000


BANDS = frozenset(Priority)
