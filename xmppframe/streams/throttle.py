"""
Slowing down repeated authentication failures from one address.

Password guessing is made expensive by answering each further failed SASL
attempt from the same IP address later than the one before, rather than by
locking accounts (which would let anyone lock anyone out).
"""

from collections import OrderedDict


class AuthFailureThrottle:
    """
    Per-address delays for failed authentication: the n-th consecutive
    failure is answered after C{delay * 2 ** (n - 1)} seconds, at most
    C{maxDelay}.  A success clears the address.  Entries are forgotten after
    C{forgetAfter} seconds of quiet, and at most C{maxEntries} addresses are
    remembered, so the table cannot be grown without bound by an attacker.
    """

    def __init__(self, clock, delay=1.0, maxDelay=30.0, forgetAfter=600.0,
                 maxEntries=10000):
        self._clock = clock
        self.delay = delay
        self.maxDelay = maxDelay
        self._forgetAfter = forgetAfter
        self._maxEntries = maxEntries
        self._failures = OrderedDict()  # address -> (count, last failure time)

    def failed(self, address):
        """
        Record a failure from C{address}.

        @return: how many seconds to wait before answering it.
        """
        now = self._clock.seconds()
        count, last = self._failures.pop(address, (0, now))
        if now - last > self._forgetAfter:
            count = 0
        count += 1
        self._failures[address] = (count, now)
        while len(self._failures) > self._maxEntries:
            self._failures.popitem(last=False)
        if self.delay <= 0:
            return 0.0
        return min(self.maxDelay, self.delay * 2 ** min(count - 1, 32))

    def succeeded(self, address):
        self._failures.pop(address, None)

    def failures(self, address):
        entry = self._failures.get(address)
        if entry is None:
            return 0
        if self._clock.seconds() - entry[1] > self._forgetAfter:
            return 0
        return entry[0]
