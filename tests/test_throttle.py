"""
Tests for L{xmppframe.streams.throttle}: delays for repeated SASL failures
from one address (RFC 6120 §13.5 asks servers to resist password guessing;
RFC 4422 §6.1 leaves how to the server).
"""

from twisted.internet import task
from twisted.trial import unittest

from xmppframe.streams.throttle import AuthFailureThrottle


class AuthFailureThrottleTests(unittest.TestCase):

    def setUp(self):
        self.clock = task.Clock()
        self.throttle = AuthFailureThrottle(
            self.clock, delay=1.0, maxDelay=30.0, forgetAfter=600.0, maxEntries=100)

    def test_doubling(self):
        """
        The n-th consecutive failure waits C{delay * 2 ** (n - 1)}.
        """
        delays = [self.throttle.failed("192.0.2.1") for _ in range(5)]
        self.assertEqual(delays, [1.0, 2.0, 4.0, 8.0, 16.0])
        self.assertEqual(self.throttle.failures("192.0.2.1"), 5)

    def test_cap(self):
        """
        The delay never exceeds C{maxDelay}, however many failures.
        """
        delays = [self.throttle.failed("192.0.2.1") for _ in range(200)]
        self.assertEqual(delays[5], 30.0)
        self.assertEqual(max(delays), 30.0)
        self.assertEqual(delays[-1], 30.0)

    def test_addressesIndependent(self):
        self.throttle.failed("192.0.2.1")
        self.throttle.failed("192.0.2.1")
        self.assertEqual(self.throttle.failed("192.0.2.2"), 1.0)
        self.assertEqual(self.throttle.failures("192.0.2.1"), 2)
        self.assertEqual(self.throttle.failures("192.0.2.2"), 1)

    def test_resetOnSuccess(self):
        """
        A success clears the address: the next failure starts over.
        """
        for _ in range(4):
            self.throttle.failed("192.0.2.1")
        self.throttle.succeeded("192.0.2.1")
        self.assertEqual(self.throttle.failures("192.0.2.1"), 0)
        self.assertEqual(self.throttle.failed("192.0.2.1"), 1.0)

    def test_successUnknownAddress(self):
        self.throttle.succeeded("198.51.100.7")
        self.assertEqual(self.throttle.failures("198.51.100.7"), 0)

    def test_forgetAfterQuiet(self):
        """
        Failures older than C{forgetAfter} seconds no longer count.
        """
        for _ in range(4):
            self.throttle.failed("192.0.2.1")
        self.clock.advance(600.0)
        self.assertEqual(self.throttle.failures("192.0.2.1"), 4)
        self.clock.advance(0.5)
        self.assertEqual(self.throttle.failures("192.0.2.1"), 0)
        self.assertEqual(self.throttle.failed("192.0.2.1"), 1.0)

    def test_failuresWithinWindowKeepCounting(self):
        """
        Each failure restarts the quiet period, so a slow guesser is not
        forgotten.
        """
        for _ in range(3):
            self.throttle.failed("192.0.2.1")
            self.clock.advance(500.0)
        self.assertEqual(self.throttle.failed("192.0.2.1"), 8.0)

    def test_boundedTable(self):
        """
        At most C{maxEntries} addresses are remembered; the least recently
        failing ones are forgotten first.
        """
        for i in range(150):
            self.throttle.failed("10.0.%d.%d" % (i // 256, i % 256))
        self.assertEqual(len(self.throttle._failures), 100)
        self.assertEqual(self.throttle.failures("10.0.0.0"), 0)
        self.assertEqual(self.throttle.failures("10.0.0.149"), 1)

    def test_recentFailureKeepsEntry(self):
        """
        An address that fails again moves to the back of the eviction
        order.
        """
        throttle = AuthFailureThrottle(self.clock, maxEntries=2)
        throttle.failed("a")
        throttle.failed("b")
        throttle.failed("a")
        throttle.failed("c")
        self.assertEqual(throttle.failures("a"), 2)
        self.assertEqual(throttle.failures("b"), 0)
        self.assertEqual(throttle.failures("c"), 1)

    def test_zeroDelayDisables(self):
        """
        C{delay=0} turns the delays off (test servers) but still counts.
        """
        throttle = AuthFailureThrottle(self.clock, delay=0.0)
        self.assertEqual([throttle.failed("a") for _ in range(3)], [0.0, 0.0, 0.0])
        self.assertEqual(throttle.failures("a"), 3)

    def test_hugeCountNoOverflow(self):
        """
        A very long run of failures neither overflows nor slows down.
        """
        throttle = AuthFailureThrottle(self.clock, delay=1.0, maxDelay=1e300)
        for _ in range(2000):
            delay = throttle.failed("a")
        self.assertEqual(delay, 2.0 ** 32)
