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


class AccountThrottleTests(unittest.TestCase):
    """
    Failures are counted per account as well as per address, and a success
    forgives only the account that logged in (RFC 6120 §13.5).
    """

    def setUp(self):
        self.clock = task.Clock()
        self.throttle = AuthFailureThrottle(
            self.clock, delay=1.0, maxDelay=30.0, forgetAfter=600.0, maxEntries=100,
            accountAllowance=3)

    def test_ownLoginsDoNotForgiveGuesses(self):
        """
        An attacker that logs into its own account between guesses at
        another's password, from the same address, keeps the delays of
        its guesses growing (the success used to clear the address).
        """
        delays = []
        for _ in range(5):
            delays.append(self.throttle.failed("192.0.2.1", "victim@example.org"))
            self.throttle.succeeded("192.0.2.1", "mallory@example.org")
        self.assertEqual(delays, [1.0, 2.0, 4.0, 8.0, 16.0])
        self.assertEqual(self.throttle.failures("192.0.2.1"), 5)

    def test_ownTyposForgiven(self):
        """
        A user who mistyped and then got in starts over, and so does its
        account; other accounts' failures from the address remain.
        """
        self.throttle.failed("192.0.2.1", "other@example.org")
        self.throttle.failed("192.0.2.1", "alice@example.org")
        self.throttle.failed("192.0.2.1", "alice@example.org")
        self.throttle.succeeded("192.0.2.1", "alice@example.org")
        self.assertEqual(self.throttle.failures("192.0.2.1"), 1)
        self.assertEqual(self.throttle.accountFailures("alice@example.org"), 0)
        self.assertEqual(self.throttle.failed("192.0.2.1", "alice@example.org"), 2.0)

    def test_guessesFromManyAddresses(self):
        """
        Failures naming one account from many addresses slow that account's
        further failures down after the allowance, doubling up to the cap,
        whatever address they come from.
        """
        delays = [self.throttle.failed("10.0.0.%d" % (i,), "victim@example.org")
                  for i in range(12)]
        self.assertEqual(delays[:3], [1.0, 1.0, 1.0])
        self.assertEqual(delays[3:9], [1.0, 2.0, 4.0, 8.0, 16.0, 30.0])
        self.assertEqual(max(delays), 30.0)
        self.assertEqual(self.throttle.accountFailures("victim@example.org"), 12)
        # Another account from a fresh address is not slowed.
        self.assertEqual(self.throttle.failed("10.0.1.1", "bob@example.org"), 1.0)

    def test_victimSuccessClearsAccount(self):
        for i in range(8):
            self.throttle.failed("10.0.0.%d" % (i,), "victim@example.org")
        self.throttle.succeeded("198.51.100.1", "victim@example.org")
        self.assertEqual(self.throttle.accountFailures("victim@example.org"), 0)
        # The guessers' addresses are not forgiven by the victim's success.
        self.assertEqual(self.throttle.failures("10.0.0.1"), 1)

    def test_accountsForgotten(self):
        for i in range(8):
            self.throttle.failed("10.0.0.%d" % (i,), "victim@example.org")
        self.clock.advance(600.5)
        self.assertEqual(self.throttle.accountFailures("victim@example.org"), 0)

    def test_boundedTables(self):
        """
        Made-up user names and addresses cannot grow the tables.
        """
        for i in range(300):
            self.throttle.failed("10.%d.%d.1" % (i // 256, i % 256), "u%d@example.org" % (i,))
        self.assertEqual(len(self.throttle._failures), 100)
        self.assertEqual(len(self.throttle._pairs), 100)
        self.assertEqual(len(self.throttle._accounts), 100)
