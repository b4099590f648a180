"""
How fast one connection may send us data: a token bucket of bytes.

A peer that sends faster than its share (a flood of stanzas, or of distinct
element names that lxml keeps for the life of the process) is not cut off:
the stream stops reading from its socket for as long as it is ahead of its
rate, so TCP pushes back on the sender while every other connection is
served as usual, and nothing it sent is lost.  What it sends within the
burst allowance passes at once, so logins and ordinary chat never wait.
"""

__all__ = ["ReadShaper"]


class ReadShaper:
    """
    A token bucket over the bytes read from one connection.

    @param rate: bytes per second allowed on average.
    @param burst: bytes that may arrive at once after a quiet spell (the
        bucket's size).
    @param now: the current time, in the clock's seconds.
    """

    __slots__ = ("rate", "burst", "_tokens", "_stamp")

    def __init__(self, rate, burst, now):
        if rate <= 0 or burst <= 0:
            raise ValueError("rate and burst must be positive")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = now

    def take(self, size, now):
        """
        Account for C{size} bytes read at time C{now}.

        @return: how many seconds to stop reading so that the connection
            keeps to its rate (C{0.0}: read on).
        """
        tokens = self._tokens + (now - self._stamp) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        tokens -= size
        self._tokens = tokens
        self._stamp = now
        if tokens >= 0:
            return 0.0
        return -tokens / self.rate
