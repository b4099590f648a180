"""
Archive ids and times, and how an archived message is stored.

An archive id (XEP-0313 §3.5, §6.2; XEP-0359 §2.1) is given to the
recipient with the message, before the store has written it, so the
module makes it itself: the time the message is archived, in
microseconds, in fixed-width hex (ids sort in time order), then 32
random bits (they cannot be guessed: XEP-0313 §3, XEP-0359 §3 rule 1).
The item is stored with exactly that time, and its payload is the id, a
newline and the serialized message, so an id is found again with one
query of the store's time index.
"""

import binascii
import os
from datetime import datetime, timedelta, timezone

from lxml import etree

from xmppframe.xml.safe import safeParser
from xmppframe.xml.stanza import serialize

__all__ = ["ArchiveIds", "Record", "formatStamp", "parseStamp", "payload", "storeTime"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)

_PAYLOAD_PARSER = safeParser()


def formatStamp(micros):
    """
    The XEP-0082 §3.3 DateTime, in UTC with microseconds, of C{micros}
    microseconds since the epoch: the C{stamp} of XEP-0203 C{<delay/>}.
    """
    return (_EPOCH + timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parseStamp(text):
    """
    Read a XEP-0082 DateTime (a time zone is expected; without one UTC is
    assumed).

    @return: microseconds since the epoch, an C{int}.
    @raise ValueError: if C{text} is not a date and time.
    """
    text = text.strip()
    if not text or "T" not in text:
        raise ValueError("not a XEP-0082 DateTime: %r" % (text,))
    moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // _MICROSECOND


def storeTime(micros):
    """
    The store's POSIX time for C{micros}: always computed this way, so that
    an id's time and its item's time compare equal.
    """
    return micros / 1e6


class ArchiveIds:
    """
    Makes archive ids: unique, in time order, unpredictable (XEP-0313 §3, §6.2;
    XEP-0359 §3 rule 1).

    @param clock: an L{IReactorTime}.
    @param randomBytes: C{n -> bytes}; L{os.urandom} by default.
    """

    def __init__(self, clock, randomBytes=os.urandom):
        self._clock = clock
        self._random = randomBytes
        self._last = 0

    def next(self):
        """
        @return: C{(archiveId, micros)}; C{micros} increases strictly from
            one call to the next, even when the clock does not.
        """
        micros = int(self._clock.seconds() * 1e6)
        if micros <= self._last:
            micros = self._last + 1
        self._last = micros
        return "%014x-%s" % (micros, binascii.hexlify(self._random(4)).decode("ascii")), micros

    @staticmethod
    def micros(archiveId):
        """
        @return: the time encoded in C{archiveId}, or C{None} if it is not
            one of ours.
        """
        timePart, dash, randomPart = archiveId.partition("-")
        if (not dash or len(timePart) != 14 or len(randomPart) != 8
                or not all(c in "0123456789abcdef" for c in timePart + randomPart)):
            return None
        return int(timePart, 16)


def payload(archiveId, message):
    """
    What the store keeps of C{message} archived as C{archiveId}.
    """
    return archiveId.encode("ascii") + b"\n" + serialize(message)


class Record:
    """
    One archived message, read back from an L{ArchiveItem}.
    """

    __slots__ = ("storeId", "archiveId", "micros", "with_", "xml")

    def __init__(self, item):
        self.storeId = int(item.id)
        head, _, self.xml = item.payload.partition(b"\n")
        self.archiveId = head.decode("ascii", "replace")
        self.micros = round(item.when * 1e6)
        self.with_ = item.with_

    def message(self):
        """
        @return: the archived message, or C{None} if it cannot be read.
        """
        try:
            return etree.fromstring(self.xml, _PAYLOAD_PARSER)
        except etree.XMLSyntaxError:
            return None
