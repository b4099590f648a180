"""
Slowing down password guessing (RFC 6120 §13.5; RFC 4422 §6.1 leaves how
to the server): failed SASL attempts are answered later and later, rather
than accounts being locked (which would let anyone lock anyone out).

Three counts of recent failures are kept, each forgotten after a quiet
period and each in a bounded table:

  - per address: every failure from an IP address, whatever account it
    named.  The n-th is answered after C{delay * 2 ** (n - 1)} seconds, at
    most C{maxDelay}.
  - per (account, address): the share of the address's failures that named
    one account.  A success of that account from that address takes
    exactly that share off the address, and nothing else.  An attacker with
    an account of its own therefore gains nothing by logging into it
    between guesses at someone else's password: the failures against the
    other account stay on its address, and its answers keep slowing down
    (before, one success cleared the whole address, so a guess a second
    was possible).  A user who mistyped and then got in is forgiven, even
    behind an address shared with others.
  - per account: failures naming the account, from every address, which
    is what guessing from many addresses shows up as.  After
    C{accountAllowance} of them, the answers to further failures naming
    it also slow down, doubling up to C{maxDelay}; the larger of the two
    delays applies.  A success of the account clears it.

Why this cannot lock anyone out: only I{failures} wait.  The password is
checked at once, and a correct one is answered at once, whatever the
counts say: the victim of a guessing attack logs in as promptly as ever,
and at worst waits C{maxDelay} for the answer to a typo.  Delays rather
than a per-account queue of attempts were chosen for that reason: a queue
would bound the guessing rate even across parallel connections, but an
attacker could fill it and make the real user wait behind its guesses.
What the delays do not bound is an attacker that runs many connections at
once from many addresses; the per-stream limit of attempts (C{maxAttempts}
in L{xmppframe.streams.negotiation.SASLResponder}) and the per-address
delays on each new connection's failures are what remain against that.

The tables hold at most C{maxEntries} each, least recently failing first
out, so spraying made-up addresses or user names cannot grow them; it can
only push out older entries, which costs the sprayer the same delays.
"""

from collections import OrderedDict


class _RecentCounts:
    """
    Counts per key, each forgotten C{forgetAfter} seconds after its last
    increase, at most C{maxEntries} keys (the least recently increased go
    first).
    """

    def __init__(self, forgetAfter, maxEntries):
        self._forgetAfter = forgetAfter
        self._maxEntries = maxEntries
        self._entries = OrderedDict()  # key -> (count, time of last increase)

    def add(self, key, now, amount=1):
        count, last = self._entries.pop(key, (0, now))
        if now - last > self._forgetAfter:
            count = 0
        count += amount
        self._entries[key] = (count, now)
        while len(self._entries) > self._maxEntries:
            self._entries.popitem(last=False)
        return count

    def get(self, key, now):
        entry = self._entries.get(key)
        if entry is None or now - entry[1] > self._forgetAfter:
            return 0
        return entry[0]

    def pop(self, key, now):
        entry = self._entries.pop(key, None)
        if entry is None or now - entry[1] > self._forgetAfter:
            return 0
        return entry[0]

    def subtract(self, key, amount):
        """
        Take C{amount} off C{key}'s count, keeping its place and time.
        """
        entry = self._entries.get(key)
        if entry is None:
            return
        count = entry[0] - amount
        if count <= 0:
            del self._entries[key]
        else:
            self._entries[key] = (count, entry[1])

    def __len__(self):
        return len(self._entries)


class AuthFailureThrottle:
    """
    Delays for failed authentication, by address and by account (see the
    module's docstring).

    @param delay: the delay of a first failure from an address, in seconds
        (C{0}: no delays, failures still counted).
    @param maxDelay: the longest delay.
    @param forgetAfter: seconds of quiet after which a count starts over.
    @param maxEntries: the most entries of each table.
    @param accountAllowance: failures naming one account, from any
        address, before its own delay starts.
    """

    def __init__(self, clock, delay=1.0, maxDelay=30.0, forgetAfter=600.0,
                 maxEntries=10000, accountAllowance=3):
        self._clock = clock
        self.delay = delay
        self.maxDelay = maxDelay
        self.accountAllowance = accountAllowance
        self._failures = _RecentCounts(forgetAfter, maxEntries)
        self._pairs = _RecentCounts(forgetAfter, maxEntries)
        self._accounts = _RecentCounts(forgetAfter, maxEntries)

    def _delayFor(self, count):
        if count <= 0 or self.delay <= 0:
            return 0.0
        return min(self.maxDelay, self.delay * 2 ** min(count - 1, 32))

    def failed(self, address, account=None):
        """
        Record a failure from C{address}, naming C{account} when known (a
        prepared user name qualified by its host, say C{alice@example.org}).

        @return: how many seconds to wait before answering it.
        """
        now = self._clock.seconds()
        delay = self._delayFor(self._failures.add(address, now))
        if account is not None:
            self._pairs.add((account, address), now)
            count = self._accounts.add(account, now)
            delay = max(delay, self._delayFor(count - self.accountAllowance))
        return delay

    def succeeded(self, address, account=None):
        """
        C{account} logged in from C{address}: its failures from there are
        forgiven, and its own count is cleared.  Without C{account}, the
        whole address is cleared.
        """
        now = self._clock.seconds()
        if account is None:
            self._failures.pop(address, now)
            return
        self._failures.subtract(address, self._pairs.pop((account, address), now))
        self._accounts.pop(account, now)

    def failures(self, address):
        """
        The recent failures from C{address}.
        """
        return self._failures.get(address, self._clock.seconds())

    def accountFailures(self, account):
        """
        The recent failures naming C{account}, from every address.
        """
        return self._accounts.get(account, self._clock.seconds())
