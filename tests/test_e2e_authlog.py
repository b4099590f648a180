"""
Failed logins in the log, as an operator's fail2ban reads them: the real
server writes its log with its own observer (L{textObserver}) while slixmpp
clients fail to log in with PLAIN and SCRAM, as an unknown user and with a
wrong password, and the filter in contrib/fail2ban is run over those lines.
"""

import asyncio
import configparser
import io
import os
import re

from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase

from xmppframe.logobserver import LevelFilter, textObserver

from tests.e2e import ClientTestCase, asDeferred

FILTER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "contrib", "fail2ban", "filter.d", "xmppframe.conf")

#: fail2ban's date-pattern directives, as regular expressions.
_DIRECTIVES = {"%Y": r"\d{4}", "%m": r"\d\d", "%d": r"\d\d", "%H": r"\d\d", "%M": r"\d\d",
               "%S": r"\d\d", "%z": r"[+-]\d{4}"}


def loadFilter(path=FILTER):
    """
    The filter's failregex lines, its ignoreregex lines and its date
    pattern, as compiled regular expressions, the way fail2ban reads them:
    C{<HOST>} is the address, a named group, and the date is cut from the
    line before the failregex is tried.
    """
    parser = configparser.ConfigParser()
    parser.read(path)
    definition = parser["Definition"]

    def patterns(key):
        return [re.compile(line.strip().replace("<HOST>", r"(?P<host>\S+)"))
                for line in definition.get(key, "").splitlines() if line.strip()]

    date = definition["datepattern"]
    for directive, regex in _DIRECTIVES.items():
        date = date.replace(directive, regex)
    return patterns("failregex"), patterns("ignoreregex"), re.compile(date)


def failedHosts(lines, path=FILTER):
    """
    The address each of C{lines} that the filter counts as a failure
    names, in order.
    """
    failregex, ignoreregex, datepattern = loadFilter(path)
    hosts = []
    for line in lines:
        date = datepattern.search(line)
        if date is None:
            continue
        rest = line[:date.start()] + line[date.end():]
        if any(regex.search(rest) for regex in ignoreregex):
            continue
        for regex in failregex:
            match = regex.search(rest)
            if match:
                hosts.append(match.group("host"))
                break
    return hosts


class FailedLoginLogTests(ClientTestCase):

    def setUp(self):
        from twisted.logger import LogLevel
        self.logFile = io.StringIO()
        observer = LevelFilter(textObserver(self.logFile), LogLevel.info)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        return ClientTestCase.setUp(self)

    def lines(self):
        return self.logFile.getvalue().splitlines()

    async def failLogin(self, jid, password, mechanism):
        client = self.client(jid, password, mechanism=mechanism)
        client.connect("127.0.0.1", self.server.port)
        await asyncio.wait_for(client.authFailures.get(), 10)
        await client.close()

    def test_failuresMatchedOnce(self):
        """
        Each failed login is one line, in the documented format, that the
        filter matches with the client's address; a successful login is
        not matched.
        """
        async def scenario():
            attempts = [("alice@localhost", "guess", "PLAIN"),
                        ("nobody@localhost", "guess", "PLAIN"),
                        ("alice@localhost", "guess", "SCRAM-SHA-1"),
                        ("nobody@localhost", "guess", "SCRAM-SHA-256")]
            for jid, password, mechanism in attempts:
                await self.failLogin(jid, password, mechanism)
            for mechanism in ("PLAIN", "SCRAM-SHA-1"):
                good = await self.client("alice@localhost/ok", "wonderland",
                                         mechanism=mechanism).login()
                await good.close()
            failures = [line for line in self.lines() if "SASL failure" in line]
            self.assertEqual(
                [line.split("] ", 1)[1] for line in failures],
                ["SASL failure from 127.0.0.1 for %s (%s): not-authorized" % (jid, mechanism)
                 for jid, _, mechanism in attempts])
            for line in failures:
                self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} "
                                       r"\[xmppframe\.sasl#info\] ")
            self.assertEqual(failedHosts(self.lines()), ["127.0.0.1"] * len(attempts))
            self.assertTrue(any("authenticated with" in line for line in self.lines()))
        return asDeferred(scenario())


class FilterTests(TestCase):
    """
    The filter on fixed lines.
    """

    def test_lines(self):
        lines = [
            "2026-07-01T10:00:00+0000 [xmppframe.sasl#info] SASL failure from 203.0.113.5 "
            "for alice@example.org (SCRAM-SHA-1): not-authorized",
            "2026-07-01T10:00:01+0200 [xmppframe.sasl#info] SASL failure from 2001:db8::7 "
            "for - (-): malformed-request",
            "2026-07-01T10:00:02+0000 [xmppframe.sasl#info] SASL failure from 203.0.113.6 "
            "for bob@example.org (PLAIN): temporary-auth-failure",
            "2026-07-01T10:00:03+0000 [xmppframe.streams.c2s.C2SStream#info] c2s 203.0.113.7 "
            "bound alice@example.org/x (authenticated with PLAIN)",
            "2026-07-01T10:00:04+0000 [xmppframe.modules.x#info] SASL failure from 203.0.113.8 "
            "for a (PLAIN): not-authorized",
        ]
        self.assertEqual(failedHosts(lines), ["203.0.113.5", "2001:db8::7"])

    def test_noSpoofedAddress(self):
        """
        A user name made to look like a log line, or to end one, cannot
        make the filter blame another address: it is escaped into one word.
        """
        from twisted.logger import LogLevel
        from xmppframe.streams.sasl import logFailure
        out = io.StringIO()
        observer = LevelFilter(textObserver(out), LogLevel.info)
        globalLogPublisher.addObserver(observer)
        try:
            logFailure("127.0.0.1", "x (PLAIN): not-authorized from 192.0.2.1", "localhost",
                       "PLAIN", "not-authorized")
            logFailure("127.0.0.1", "x\n2026-07-01T10:00:00+0000 [xmppframe.sasl#info] "
                       "SASL failure from 192.0.2.2 for y (PLAIN): not-authorized",
                       "localhost", "PLAIN", "not-authorized")
        finally:
            globalLogPublisher.removeObserver(observer)
        lines = out.getvalue().splitlines()
        self.assertEqual(len(lines), 2)
        self.assertIn(r"for x\x20\x28PLAIN\x29:\x20not-authorized", lines[0])
        self.assertEqual(failedHosts(lines), ["127.0.0.1", "127.0.0.1"])
