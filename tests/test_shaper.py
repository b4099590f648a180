"""
The read shaper: a token bucket of bytes per connection.
"""

from twisted.trial import unittest

from xmppframe.streams.shaper import ReadShaper


class ReadShaperTests(unittest.TestCase):

    def test_burstPassesAtOnce(self):
        shaper = ReadShaper(rate=100, burst=1000, now=0.0)
        self.assertEqual(shaper.take(600, 0.0), 0.0)
        self.assertEqual(shaper.take(400, 0.0), 0.0)

    def test_aheadOfRateWaits(self):
        """
        Bytes beyond the bucket wait as long as the rate takes to earn
        them back.
        """
        shaper = ReadShaper(rate=100, burst=1000, now=0.0)
        self.assertEqual(shaper.take(1250, 0.0), 2.5)

    def test_refillsAtRate(self):
        shaper = ReadShaper(rate=100, burst=1000, now=0.0)
        shaper.take(1000, 0.0)
        self.assertEqual(shaper.take(300, 3.0), 0.0)
        self.assertEqual(shaper.take(100, 3.0), 1.0)

    def test_quietSpellEarnsNoMoreThanBurst(self):
        shaper = ReadShaper(rate=100, burst=1000, now=0.0)
        self.assertEqual(shaper.take(1500, 3600.0), 5.0)

    def test_invalid(self):
        self.assertRaises(ValueError, ReadShaper, 0, 1000, 0.0)
        self.assertRaises(ValueError, ReadShaper, 100, 0, 0.0)
