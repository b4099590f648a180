"""
Tests for L{xmppframe.streams.context.StreamContext}: a stream needs
nothing of the server but its context, so one can be built without a
L{xmppframe.server.Server}.
"""

from twisted.internet import task
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from xmppframe.config import parseConfig
from xmppframe.router import Router
from xmppframe.session import SessionManager
from xmppframe.streams.c2s import C2SStream, FeaturesCache
from xmppframe.streams.component import ComponentRegistry
from xmppframe.streams.context import StreamContext
from xmppframe.streams.negotiation import BindResponder, SASLResponder, StartTLSResponder
from xmppframe.streams.throttle import AuthFailureThrottle
from xmppframe.streams.write import WriteCoalescer

from tests.fakes import makeHost

HEADER = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>")


class StreamContextTests(unittest.TestCase):

    def setUp(self):
        self.clock = task.Clock()
        directory = self.mktemp()
        config = parseConfig({"data_dir": directory, "storage": {"driver": "memory"},
                              "c2s": {"require_encryption": False}}, directory)
        self.sessions = SessionManager()
        self.router = Router(self.sessions)
        self.host = makeHost("example.org")
        self.router.addHost(self.host)
        hosts = {"example.org": self.host}
        self.context = StreamContext(
            reactor=self.clock, router=self.router, sessions=self.sessions,
            hosts=hosts, defaultHost=self.host, c2sConfig=config.c2s,
            s2sConfig=config.s2s, componentsConfig=config.components,
            dataDir=directory,
            responders=(StartTLSResponder(), SASLResponder(), BindResponder()),
            featuresCache=FeaturesCache(),
            authThrottle=AuthFailureThrottle(self.clock),
            writes=WriteCoalescer(self.clock),
            components=ComponentRegistry(self.router, (), hosts))

    def test_hostFor(self):
        """
        A domain is looked up as it is, then prepared (RFC 7622 §3.2); one
        that is not served, or not a domain at all, has no host.
        """
        self.assertIs(self.context.hostFor("example.org"), self.host)
        self.assertIs(self.context.hostFor("Example.ORG"), self.host)
        self.assertIsNone(self.context.hostFor("example.net"))
        self.assertIsNone(self.context.hostFor("not a domain"))

    def test_clientStream(self):
        """
        A client stream made from a bare context answers a header with its
        features, and the context knows the stream while it is open.
        """
        stream = C2SStream(self.context)
        transport = StringTransport()
        stream.makeConnection(transport)
        self.assertEqual(self.context.streams, {stream})
        stream.dataReceived(HEADER % (b"example.org",))
        data = transport.value()
        self.assertIn(b"from='example.org'", data)
        self.assertIn(b"<stream:features>", data)
        self.assertIs(stream.host, self.host)
        stream.connectionLost(None)
        self.assertEqual(self.context.streams, set())

    def test_tlsContextReadWhenTheStreamIsMade(self):
        """
        The TLS context is set once the server has its certificates; a
        stream made after that offers STARTTLS with it.
        """
        marker = object()
        self.context.tlsContext = marker
        self.assertIs(C2SStream(self.context).tlsContext, marker)
