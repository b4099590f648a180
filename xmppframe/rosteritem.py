"""
A roster item (RFC 6121 §2.1.2) as an immutable value, shared by the
roster, presence and blocking modules.
"""

from dataclasses import dataclass, field, replace

#: RFC 6121 §2.1.2.5 subscription states stored in a roster.
SUBSCRIPTIONS = ("none", "to", "from", "both")


@dataclass(frozen=True)
class RosterItem:
    """
    @ivar jid: the contact's bare L{xmppframe.jid.JID}.
    @ivar name: the user's name for the contact, or C{None}.
    @ivar groups: the group names, a tuple of unique strings.
    @ivar subscription: one of L{SUBSCRIPTIONS}.
    @ivar ask: C{True} while a subscription request from the user is
        pending ("Pending Out", RFC 6121 §2.1.2.2, shown as
        C{ask='subscribe'}).
    @ivar approved: C{True} when the user pre-approved the contact's
        subscription (RFC 6121 §3.4).
    """

    jid: object
    name: str = None
    groups: tuple = field(default=())
    subscription: str = "none"
    ask: bool = False
    approved: bool = False

    def __post_init__(self):
        if self.subscription not in SUBSCRIPTIONS:
            raise ValueError("not a subscription state: %r" % (self.subscription,))

    @property
    def subscribedTo(self):
        """
        The user receives the contact's presence ('to' or 'both').
        """
        return self.subscription in ("to", "both")

    @property
    def subscribedFrom(self):
        """
        The contact receives the user's presence ('from' or 'both').
        """
        return self.subscription in ("from", "both")

    def evolve(self, **changes):
        return replace(self, **changes)
