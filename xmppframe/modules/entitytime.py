"""
Entity Time (XEP-0202): the server says what time it is.

A query to the server's domain is answered with C{<utc/>}, the UTC time in
the dateTime profile of XEP-0082 (§3.2: C{CCYY-MM-DDThh:mm:ssZ}), and
C{<tzo/>}, the offset from UTC (XEP-0082 §3.1 TZD).  The server tells UTC,
offset C{+00:00}, whatever the zone of the machine: XEP-0202 §7 warns that
the offset "may leak limited information about the entity's current
location", and a server's clients need the time, not where it is kept.

The time comes from the reactor (C{IReactorTime.seconds}), so tests drive
it with a L{twisted.internet.task.Clock}.  The module is named
C{entitytime} rather than C{time} so that it is never mistaken for the
standard library's module.
"""

from datetime import datetime, timezone

from xmppframe.api import Module
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeElement

__all__ = ["EntityTimeModule", "utcDateTime"]

#: The offset the server reports: UTC (XEP-0082 §3.1 TZD).
UTC_OFFSET = "+00:00"


def utcDateTime(seconds):
    """
    C{seconds} since the epoch as an XEP-0082 §3.2 dateTime in UTC, to the
    second: C{2006-12-19T17:58:35Z}.
    """
    return datetime.fromtimestamp(int(seconds), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class EntityTimeModule(Module):
    """
    Answers C{urn:xmpp:time} queries to the server (XEP-0202).
    """

    name = "time"
    summary = "the server's time (UTC)"
    xeps = ("XEP-0202",)

    def load(self):
        # XEP-0202 §2: the namespace, also the disco feature (§4).
        self.api.addFeature(NS.TIME)
        self.api.hookIQ("get", "host", (NS.TIME, "time"), self.answer)

    def answer(self, event):
        """
        XEP-0202 §3: C{tzo} and C{utc}, both REQUIRED.
        """
        element = makeElement(NS.TIME, "time")
        for local, text in (("tzo", UTC_OFFSET),
                            ("utc", utcDateTime(self.api.reactor.seconds()))):
            child = makeElement(NS.TIME, local)
            child.text = text
            element.append(child)
        return element
