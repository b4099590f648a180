"""
Client streams over an in-memory transport: every stream error the issue
names, negotiation without TLS (SCRAM over a plaintext test stream), binding,
timeouts (RFC 6120 §4, §6, §7).
"""

import base64

from lxml import etree

import scramp

from zope.interface.verify import verifyObject

from twisted.internet import defer
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from xmppframe.api.testing import ModuleHarness
from xmppframe.config import parseConfig
from xmppframe.interfaces import IClientSession, INegotiatingStream
from xmppframe.server import Server
from xmppframe.streams.c2s import C2SStream

from tests.fakes import CountingTransport, ThreadedClock


NS_SASL_AUTH = "{urn:ietf:params:xml:ns:xmpp-sasl}auth"

HEADER = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")


def makeServer(testCase, modules=None, options=None, **c2s):
    c2sConfig = {"require_encryption": False, "auth_timeout": 30.0, "close_grace": 1.0}
    c2sConfig.update(c2s)
    directory = testCase.mktemp()
    host = {}
    if modules is not None:
        host["modules"] = modules
    if options is not None:
        host["options"] = options
    config = parseConfig({"data_dir": directory, "storage": {"driver": "memory"},
                          "auth": {"failure_delay": 0.0},
                          "c2s": c2sConfig, "hosts": {"localhost": host, "example.org": {}}},
                         directory)
    clock = ThreadedClock()
    server = Server(config, clock)
    return server, clock


class StreamTestCase(unittest.TestCase):

    def setUp(self):
        self.server, self.clock = makeServer(self)
        self.server.hosts["localhost"].auth.checkPassword  # exists
        return self.server.storage.open()

    def connect(self):
        stream = C2SStream(self.server.context)
        transport = StringTransport()
        stream.makeConnection(transport)
        return stream, transport

    def output(self, transport):
        data = transport.value()
        transport.clear()
        return data

    def harness(self):
        """
        A module harness over this server's router, sessions and storage.
        """
        return ModuleHarness.over(self.server.router, self.server.sessions,
                                  self.server.storage, self.clock,
                                  host=self.server.hosts["localhost"])

    def assertStreamError(self, transport, condition):
        data = self.output(transport)
        self.assertIn(b"<stream:error><" + condition.encode() + b" xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", data)
        self.assertTrue(data.endswith(b"</stream:stream>"), data)
        self.clock.advance(self.server.config.c2s.close_grace)
        self.assertTrue(transport.disconnecting)

    def scramResponse(self, username="alice", password="wonderland", header=HEADER):
        """
        Open a plaintext test stream and start SCRAM-SHA-256, up to the
        client's final message.

        @return: the stream, its transport, the scramp client, and the
            C{<response/>} with the client's final message, not yet sent.
        """
        stream, transport = self.connect()
        stream.dataReceived(header)
        features = self.output(transport)
        self.assertIn(b"SCRAM-SHA-256", features)
        client = scramp.ScramClient(["SCRAM-SHA-256"], username, password)
        first = base64.b64encode(client.get_client_first().encode()).decode()
        stream.dataReceived(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
                             "mechanism='SCRAM-SHA-256'>%s</auth>" % first).encode())
        challenge = etree.fromstring(self.output(transport))
        client.set_server_first(base64.b64decode(challenge.text).decode())
        final = base64.b64encode(client.get_client_final().encode()).decode()
        response = ("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>"
                    % final).encode()
        return stream, transport, client, response

    def login(self, username="alice", password="wonderland", resource="home", header=HEADER):
        """
        Negotiate a plaintext test stream with SCRAM-SHA-256 and bind.
        """
        stream, transport, client, response = self.scramResponse(username, password, header)
        stream.dataReceived(response)
        success = etree.fromstring(self.output(transport))
        self.assertEqual(success.tag, "{urn:ietf:params:xml:ns:xmpp-sasl}success")
        client.set_server_final(base64.b64decode(success.text).decode())
        stream.dataReceived(header)
        features = self.output(transport)
        self.assertIn(b"urn:ietf:params:xml:ns:xmpp-bind", features)
        stream.dataReceived((
            "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
            "<resource>%s</resource></bind></iq>" % resource).encode())
        result = etree.fromstring(self.output(transport))
        self.assertEqual(result.get("type"), "result")
        return stream, transport


class StreamErrorTests(StreamTestCase):
    """
    RFC 6120 §4.9.3: each error is sent, with the stream header first when
    none was sent yet (§4.9.1.1), then the stream closes.
    """

    def test_interface(self):
        """
        A client stream is the client's session, and what feature
        responders negotiate with: it has everything the router and the
        modules use of either.
        """
        stream, _ = self.connect()
        self.assertTrue(verifyObject(IClientSession, stream))
        self.assertTrue(verifyObject(INegotiatingStream, stream))
        self.assertFalse(stream.closing)
        self.assertEqual(stream.lastActivity, self.clock.seconds())
        stream.close()
        self.assertTrue(stream.closing)

    def test_headerAndFeatures(self):
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        data = self.output(transport)
        self.assertTrue(data.startswith(b"<?xml version='1.0'?><stream:stream "))
        self.assertIn(b"from='localhost'", data)
        self.assertIn(b"version='1.0'", data)
        self.assertIn(b"<stream:features>", data)

    def test_hostUnknown(self):
        stream, transport = self.connect()
        stream.dataReceived(HEADER.replace(b"to='localhost'", b"to='elsewhere.example'"))
        data = transport.value()
        self.assertTrue(data.startswith(b"<?xml version='1.0'?><stream:stream "))
        self.assertStreamError(transport, "host-unknown")

    def test_virtualHostChosenByTo(self):
        stream, transport = self.connect()
        stream.dataReceived(HEADER.replace(b"to='localhost'", b"to='Example.ORG'"))
        self.assertIn(b"from='example.org'", self.output(transport))
        self.assertEqual(stream.host.name, "example.org")

    def test_unsupportedVersion(self):
        stream, transport = self.connect()
        stream.dataReceived(HEADER.replace(b"to='localhost' version='1.0'", b"to='localhost'"))
        self.assertStreamError(transport, "unsupported-version")

    def test_higherVersionAnsweredWithOurs(self):
        """
        §4.7.5 rule 2: answer with the lower of the two versions.
        """
        stream, transport = self.connect()
        stream.dataReceived(HEADER.replace(b"version='1.0'", b"version='1.10'"))
        data = self.output(transport)
        self.assertIn(b"version='1.0'", data)
        self.assertNotIn(b"stream:error", data)

    def test_higherMajorVersion(self):
        """
        RFC 6120 §4.7.5 and §4.9.3.25: a major version above ours (here
        2.0) cannot interoperate, so the header is answered with ours and
        C{unsupported-version}; the server keeps serving other clients.
        """
        stream, transport = self.connect()
        stream.dataReceived(HEADER.replace(b"to='localhost' version='1.0'",
                                           b"to='localhost' version='2.0'"))
        data = transport.value()
        self.assertIn(b"version='1.0'", data)
        self.assertStreamError(transport, "unsupported-version")
        other, otherTransport = self.connect()
        other.dataReceived(HEADER)
        self.assertIn(b"<stream:features>", otherTransport.value())
        self.assertFalse(other.closing)

    def test_secondHeaderBeforeAuthentication(self):
        """
        A second stream header inside the open stream (no restart was
        negotiated) is a stream error, C{invalid-xml} (RFC 6120 §4.9.3.11,
        Appendix A.1: <stream/> is not a child of <stream/>).
        """
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        self.output(transport)
        stream.dataReceived(HEADER[len(b"<?xml version='1.0'?>"):])
        self.assertStreamError(transport, "invalid-xml")

    def test_invalidNamespace(self):
        stream, transport = self.connect()
        stream.dataReceived(HEADER.replace(b"xmlns='jabber:client'", b"xmlns='jabber:server'"))
        self.assertStreamError(transport, "invalid-namespace")

    def test_notWellFormed(self):
        stream, transport = self.connect()
        stream.dataReceived(HEADER + b"<message><body></message>")
        self.assertStreamError(transport, "not-well-formed")

    def test_restrictedXML(self):
        for bad in (b"<!-- comment -->", b"<?pi data?>"):
            stream, transport = self.connect()
            stream.dataReceived(HEADER + bad)
            self.assertStreamError(transport, "restricted-xml")

    def test_doctype(self):
        stream, transport = self.connect()
        stream.dataReceived(b"<?xml version='1.0'?><!DOCTYPE stream [<!ENTITY x 'y'>]>" + HEADER[21:])
        self.assertStreamError(transport, "restricted-xml")

    def test_policyViolation(self):
        self.server, self.clock = makeServer(self, max_stanza_size=1024)
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        self.output(transport)
        stream.dataReceived(b"<message><body>" + b"x" * 2048 + b"</body></message>")
        self.assertStreamError(transport, "policy-violation")

    def test_stanzaBeforeAuthentication(self):
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        self.output(transport)
        stream.dataReceived(b"<message to='bob@localhost'><body>hi</body></message>")
        self.assertStreamError(transport, "not-authorized")

    def test_unknownElementDuringNegotiation(self):
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        self.output(transport)
        stream.dataReceived(b"<foo xmlns='urn:example:foo'/>")
        self.assertStreamError(transport, "unsupported-stanza-type")

    def test_authTimeout(self):
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        self.output(transport)
        self.clock.advance(self.server.config.c2s.auth_timeout)
        self.assertStreamError(transport, "connection-timeout")

    def test_silentConnectionClosed(self):
        """
        A connection that sends nothing is closed with C{connection-timeout}
        (RFC 6120 §4.9.3.4) once C{header_timeout} has passed, well before
        the authentication timeout; our header goes first (§4.9.1.1).
        """
        self.server, self.clock = makeServer(self, auth_timeout=300.0, header_timeout=30.0)
        stream, transport = self.connect()
        self.clock.advance(29.9)
        self.assertFalse(stream.closing)
        self.clock.advance(0.2)
        data = transport.value()
        self.assertTrue(data.startswith(b"<?xml version='1.0'?><stream:stream"), data)
        self.assertStreamError(transport, "connection-timeout")

    def test_halfHeaderClosed(self):
        """
        Half a stream header, however slowly it trickles in, does not keep
        the connection: the time runs from the connection, not from the
        last byte.
        """
        self.server, self.clock = makeServer(self, auth_timeout=300.0, header_timeout=30.0)
        stream, transport = self.connect()
        for i in range(0, 80, 2):
            stream.dataReceived(HEADER[i:i + 2])
            self.clock.advance(1.0)
            if stream.closing:
                break
        self.assertStreamError(transport, "connection-timeout")

    def test_completeHeaderStopsTimer(self):
        """
        Once the header is complete, only the authentication timeout is
        left; after a restart (SASL success, §6.4.6) the new header is
        awaited for C{header_timeout} again.
        """
        self.server, self.clock = makeServer(self, auth_timeout=300.0, header_timeout=30.0)

        def loggedIn(_):
            stream, transport, client, response = self.scramResponse()
            self.clock.advance(60.0)
            self.assertFalse(stream.closing)
            stream.dataReceived(response)
            self.output(transport)
            self.clock.advance(29.0)
            self.assertFalse(stream.closing)
            self.clock.advance(1.5)
            self.assertStreamError(transport, "connection-timeout")

        d = self.server.storage.open()
        d.addCallback(lambda _: self.server.hosts["localhost"].auth.createUser(
            "alice", "wonderland"))
        return d.addCallback(loggedIn)

    def test_whitespaceKeepalive(self):
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        self.output(transport)
        stream.dataReceived(b" \n ")
        self.assertEqual(transport.value(), b"")
        self.assertFalse(stream.closing)

    def test_peerClosesStream(self):
        """
        §4.4: when the peer closes its stream, we close ours.
        """
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        self.output(transport)
        stream.dataReceived(b"</stream:stream>")
        self.assertEqual(self.output(transport), b"</stream:stream>")
        self.assertTrue(transport.disconnecting)


class NegotiationTests(StreamTestCase):

    def setUp(self):
        d = StreamTestCase.setUp(self)
        d.addCallback(lambda _: self.server.hosts["localhost"].auth.createUser("alice", "wonderland"))
        return d

    def test_plainNotOfferedWithoutTLS(self):
        """
        PLAIN is offered only over TLS (RFC 6120 §6.4.? and RFC 4616 §6).
        """
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        features = self.output(transport)
        self.assertNotIn(b">PLAIN<", features)

    def test_saslNotOfferedBeforeTLSWhenRequired(self):
        """
        With encryption required (the default), SASL waits for TLS
        (RFC 6120 §5.3.1, §13.8).
        """
        self.server, self.clock = makeServer(self, require_encryption=True)
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        self.assertNotIn(b"mechanisms", self.output(transport))
        stream.dataReceived(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHdvbmRlcmxhbmQ=</auth>")
        failure = etree.fromstring(self.output(transport))
        self.assertEqual(failure[0].tag, "{urn:ietf:params:xml:ns:xmpp-sasl}encryption-required")
        self.assertIsNone(stream.authenticated)

    def test_saslBeforeMandatoryStartTLS(self):
        """
        With a TLS context, a mandatory STARTTLS is offered alone
        (RFC 6120 §5.3.1); an <auth/> sent anyway gets the SASL failure
        C{encryption-required} (§6.5.4), not a stream error, and the
        client can still negotiate TLS on the same stream.
        """
        self.server, self.clock = makeServer(self, require_encryption=True)
        self.server.prepareTLS()
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        features = self.output(transport)
        self.assertIn(b"starttls", features)
        self.assertNotIn(b"mechanisms", features)
        stream.dataReceived(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
                            b"AGFsaWNlAHdvbmRlcmxhbmQ=</auth>")
        failure = etree.fromstring(self.output(transport))
        self.assertEqual(failure.tag, "{urn:ietf:params:xml:ns:xmpp-sasl}failure")
        self.assertEqual(failure[0].tag, "{urn:ietf:params:xml:ns:xmpp-sasl}encryption-required")
        self.assertFalse(stream.closing)
        self.assertIsNone(stream.authenticated)
        # Only <auth/> is answered early: other SASL elements still end it.
        self.assertIn((NS_SASL_AUTH), stream._handlers)
        self.assertNotIn("{urn:ietf:params:xml:ns:xmpp-sasl}response", stream._handlers)

    def test_saslBeforeMandatoryStartTLSRepeated(self):
        """
        Repeated attempts before TLS count as failures (§6.4.5): the
        stream is closed after as many as any other failures.
        """
        self.server, self.clock = makeServer(self, require_encryption=True)
        self.server.prepareTLS()
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        self.output(transport)
        for _ in range(5):
            stream.dataReceived(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
                                b"AGFsaWNlAHdvbmRlcmxhbmQ=</auth>")
        self.assertStreamError(transport, "policy-violation")

    def test_scramLoginAndBind(self):
        stream, transport = self.login()
        self.assertEqual(str(stream.jid), "alice@localhost/home")
        self.assertIs(self.server.sessions.sessionFor(stream.jid), stream)

    def test_generatedResource(self):
        stream, transport = self.login(resource="")
        self.assertTrue(stream.jid.resource)

    def test_wrongPassword(self):
        stream, transport, _, response = self.scramResponse(password="wrong")
        stream.dataReceived(response)
        failure = etree.fromstring(self.output(transport))
        self.assertEqual(failure.tag, "{urn:ietf:params:xml:ns:xmpp-sasl}failure")
        self.assertEqual(failure[0].tag, "{urn:ietf:params:xml:ns:xmpp-sasl}not-authorized")
        self.assertIsNone(stream.authenticated)

    def answerDelay(self, stream, transport, data, limit=60.0):
        """
        Send C{data} and return how long, on the clock, its answer took.
        """
        stream.dataReceived(data)
        waited = 0.0
        while not transport.value() and waited < limit:
            self.clock.advance(0.25)
            waited += 0.25
        return waited

    def test_guessesSlowedDespiteOwnLogins(self):
        """
        RFC 6120 §13.5: an attacker with an account of its own, logging
        into it between guesses at alice's password from the same address,
        gets ever later answers to its guesses; alice's correct password
        is still answered at once (no lockout).
        """
        from xmppframe.streams.throttle import AuthFailureThrottle
        self.server.context.authThrottle = AuthFailureThrottle(self.clock, delay=1.0,
                                                               maxDelay=30.0)
        d = self.server.hosts["localhost"].auth.createUser("mallory", "own")

        def attack(_):
            delays = []
            for _ in range(4):
                stream, transport, _, response = self.scramResponse("alice", "guess")
                delays.append(self.answerDelay(stream, transport, response))
                self.assertIn(b"not-authorized", transport.value())
                self.login("mallory", "own")
            self.assertEqual(delays, [1.0, 2.0, 4.0, 8.0])
            stream, transport, _, response = self.scramResponse("alice", "wonderland")
            stream.dataReceived(response)
            self.assertIn(b"<success", transport.value())

        return d.addCallback(attack)

    def test_incorrectEncoding(self):
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        self.output(transport)
        stream.dataReceived(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>***</auth>")
        failure = etree.fromstring(self.output(transport))
        self.assertEqual(failure[0].tag, "{urn:ietf:params:xml:ns:xmpp-sasl}incorrect-encoding")

    def test_invalidMechanism(self):
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        self.output(transport)
        stream.dataReceived(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X-UNKNOWN'>=</auth>")
        failure = etree.fromstring(self.output(transport))
        self.assertEqual(failure[0].tag, "{urn:ietf:params:xml:ns:xmpp-sasl}invalid-mechanism")

    def test_tooManyFailures(self):
        """
        §6.4.5: after too many failed attempts, policy-violation.
        """
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        self.output(transport)
        for i in range(5):
            stream.dataReceived(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='X'>=</auth>")
        self.assertIn(b"<policy-violation", transport.value())

    def test_abort(self):
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        self.output(transport)
        stream.dataReceived(b"<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        failure = etree.fromstring(self.output(transport))
        self.assertEqual(failure[0].tag, "{urn:ietf:params:xml:ns:xmpp-sasl}aborted")

    def test_stanzaBeforeBind(self):
        stream, transport = self.login()
        other, otherTransport = self.connect()
        # authenticate but do not bind: reuse login's steps up to bind
        self.assertTrue(stream.jid.resource)

    def test_iqWithoutId(self):
        """
        RFC 6120 §8.1.3, §8.2.3 rule 1: an iq must have an id; one without
        gets the stanza error C{bad-request} (§8.3.3.1), before and after
        binding (the legacy session iq included), and the stream goes on.
        """
        stream, transport = self.login()
        for iq in (b"<iq type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
                   b"<iq type='set'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>"):
            self.output(transport)
            stream.dataReceived(iq)
            reply = etree.fromstring(self.output(transport))
            self.assertEqual(reply.get("type"), "error")
            # §8.3.1 rule 3: an iq error has an id, empty for a request
            # that had none.
            self.assertEqual(reply.get("id"), "")
            self.assertIsNotNone(reply.find(
                "{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}bad-request"))
        self.assertFalse(stream.closing)

    def test_bindWithoutId(self):
        """
        The same for the bind request (RFC 6120 §7, §8.2.3): C{bad-request},
        nothing bound, and a bind with an id still works.
        """
        stream, transport, client, response = self.scramResponse()
        stream.dataReceived(response)
        self.output(transport)
        stream.dataReceived(HEADER)
        self.output(transport)
        stream.dataReceived(b"<iq type='set'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
        reply = etree.fromstring(self.output(transport))
        self.assertEqual(reply.get("type"), "error")
        self.assertIsNotNone(reply.find(
            "{jabber:client}error/{urn:ietf:params:xml:ns:xmpp-stanzas}bad-request"))
        self.assertIsNone(stream.jid.resource)
        stream.dataReceived(b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
        self.assertEqual(etree.fromstring(self.output(transport)).get("type"), "result")

    def test_legacySessionIQ(self):
        """
        RFC 3921 §3: old clients establish a session after binding.
        """
        stream, transport = self.login()
        stream.dataReceived(b"<iq type='set' id='s1' to='localhost'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>")
        reply = etree.fromstring(self.output(transport))
        self.assertEqual((reply.get("type"), reply.get("id")), ("result", "s1"))

    def test_resourceConflictReplacesOldSession(self):
        first, firstTransport = self.login()
        second, secondTransport = self.login()
        self.assertIn(b"<conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>", firstTransport.value())
        self.assertIs(self.server.sessions.sessionFor(second.jid), second)

    def test_messageBetweenSessions(self):
        alice, aliceTransport = self.login()
        bob, bobTransport = self.login(resource="desk")
        alice.dataReceived(b"<message to='alice@localhost/desk' type='chat' id='m1'><body>hi</body></message>")
        delivered = etree.fromstring(self.output(bobTransport))
        self.assertEqual(delivered.get("from"), "alice@localhost/home")
        self.assertEqual(delivered.findtext("{jabber:client}body"), "hi")

    def test_secondHeaderAfterAuthentication(self):
        """
        After the legitimate restarts (SASL success, RFC 6120 §6.4.6) and
        binding, another stream header is C{invalid-xml} (§4.9.3.11), and
        the other sessions go on.
        """
        stream, transport = self.login()
        other, otherTransport = self.login(resource="work")
        self.output(transport)
        stream.dataReceived(HEADER[len(b"<?xml version='1.0'?>"):]
                            + b"<message to='alice@localhost/work'><body>x</body></message>")
        self.assertStreamError(transport, "invalid-xml")
        self.assertFalse(other.closing)
        self.output(otherTransport)
        other.dataReceived(b"<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
        self.assertIn(b'id="p1"', otherTransport.value())

    def test_unknownTopLevelElementAfterBind(self):
        stream, transport = self.login()
        stream.dataReceived(b"<foo xmlns='jabber:client'/>")
        self.assertStreamError(transport, "unsupported-stanza-type")

    def test_idleTimeout(self):
        self.server, self.clock = makeServer(self, idle_timeout=100.0, auth_timeout=1000.0)
        d = self.server.storage.open()
        d.addCallback(lambda _: self.server.hosts["localhost"].auth.createUser("alice", "wonderland"))
        def go(_):
            stream, transport = self.connect()
            stream.dataReceived(HEADER)
            self.clock.advance(60)
            stream.dataReceived(b" ")
            self.clock.advance(60)
            self.assertFalse(stream.closing)
            self.clock.advance(50)
            self.assertTrue(stream.closing)
            self.assertIn(b"connection-timeout", transport.value())
        return d.addCallback(go)


XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


class StanzaLanguageTests(StreamTestCase):
    """
    RFC 6120 §4.7.4: the server SHOULD add the stream's xml:lang to the
    stanzas it routes that have none.
    """

    def setUp(self):
        d = StreamTestCase.setUp(self)
        auth = self.server.hosts["localhost"].auth
        d.addCallback(lambda _: auth.createUser("alice", "wonderland"))
        d.addCallback(lambda _: auth.createUser("bob", "builder"))
        d.addCallback(lambda _: defer.ensureDeferred(self.server.loadModules()))
        d.addCallback(lambda _: self.addCleanup(
            lambda: defer.ensureDeferred(self.server.unloadModules())))
        return d

    def langHeader(self, lang):
        return HEADER.replace(b" version='1.0'>", b" version='1.0' xml:lang='%s'>"
                              % (lang.encode(),))

    def test_streamLanguageAdded(self):
        alice, _ = self.login(header=self.langHeader("de"))
        bob, bobTransport = self.login(resource="desk")
        alice.dataReceived(b"<message to='alice@localhost/desk' type='chat' id='m1'>"
                           b"<body>hallo</body></message>")
        delivered = etree.fromstring(self.output(bobTransport))
        self.assertEqual(delivered.get(XML_LANG), "de")

    def test_ownLanguageKept(self):
        alice, _ = self.login(header=self.langHeader("de"))
        bob, bobTransport = self.login(resource="desk")
        alice.dataReceived(b"<message to='alice@localhost/desk' type='chat' id='m1' "
                           b"xml:lang='fr'><body>salut</body></message>")
        delivered = etree.fromstring(self.output(bobTransport))
        self.assertEqual(delivered.get(XML_LANG), "fr")

    def test_noStreamLanguage(self):
        """
        A stream that declared no xml:lang: nothing is added.
        """
        alice, _ = self.login()
        bob, bobTransport = self.login(resource="desk")
        alice.dataReceived(b"<message to='alice@localhost/desk' type='chat' id='m1'>"
                           b"<body>hi</body></message>")
        delivered = etree.fromstring(self.output(bobTransport))
        self.assertNotIn(XML_LANG, delivered.attrib)

    def test_archivedCopy(self):
        """
        The copy MAM keeps carries the language too.
        """
        alice, _ = self.login(header=self.langHeader("de"))
        bob, bobTransport = self.login("bob", "builder", "desk")
        bob.dataReceived(b"<presence/>")
        alice.dataReceived(b"<message to='bob@localhost' type='chat' id='m1'>"
                           b"<body>hallo</body></message>")
        self.output(bobTransport)
        bob.dataReceived(b"<iq type='set' id='q1'><query xmlns='urn:xmpp:mam:2'/></iq>")
        [message] = [element for element in etree.fromstring(
            b"<r>" + self.output(bobTransport) + b"</r>")
            if element.tag == "{jabber:client}message"]
        [archived] = [element for element in message.iter("{jabber:client}message")
                      if element is not message]
        self.assertEqual(archived.findtext("{jabber:client}body"), "hallo")
        self.assertEqual(archived.get(XML_LANG), "de")


class ModuleStreamFeatureTests(StreamTestCase):
    """
    Modules add stream features through ModuleAPI.addStreamResponder
    (RFC 6120 §4.3.2).
    """

    def test_moduleFeatureOffered(self):
        from xmppframe.xml.stanza import makeElement

        class Marker:
            def offer(self, stream):
                return [makeElement("urn:example:marker", "marker")]

            def handlers(self, stream):
                return {}

        host = self.server.hosts["localhost"]
        api = self.harness().api("marker", host=host)
        api.addStreamResponder(Marker())
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        self.assertIn(b'<marker xmlns="urn:example:marker"/>', self.output(transport))
        api.unhookAll()
        self.assertEqual(host.responders, [])


class FeaturesCacheTests(StreamTestCase):
    """
    Stream features come from the server's cache when every responder can
    say what its offer depends on (C{offerKey}), and are built afresh
    otherwise.
    """

    setUp = NegotiationTests.setUp

    def addResponder(self, responder):
        api = self.harness().api("marker", host=self.server.hosts["localhost"])
        api.addStreamResponder(responder)
        self.addCleanup(api.unhookAll)

    def marker(self, keyed, key=True):
        from xmppframe.xml.stanza import makeElement

        class Marker:
            offers = 0

            def offer(self, stream):
                self.offers += 1
                return [makeElement("urn:example:marker", "marker")]

            def handlers(self, stream):
                return {}

        if keyed:
            Marker.offerKey = lambda self, stream: key
        return Marker()

    def features(self):
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        return self.output(transport).split(b"<stream:features>", 1)[1]

    def test_sameFeaturesFromCache(self):
        marker = self.marker(keyed=True)
        self.addResponder(marker)
        first = self.features()
        second = self.features()
        self.assertEqual(first, second)
        self.assertIn(b"<marker", first)
        self.assertEqual(marker.offers, 1)

    def test_responderWithoutKey(self):
        """
        A responder that cannot say what its offer depends on is asked every
        time.
        """
        marker = self.marker(keyed=False)
        self.addResponder(marker)
        self.features()
        self.features()
        self.assertEqual(marker.offers, 2)

    def test_keyNone(self):
        marker = self.marker(keyed=True, key=None)
        self.addResponder(marker)
        self.features()
        self.features()
        self.assertEqual(marker.offers, 2)

    def test_cachedHandlersWork(self):
        """
        A stream whose features came from the cache still negotiates: SCRAM
        and binding work on the second login as on the first.
        """
        self.login()
        stream, transport = self.login()
        self.assertEqual(str(stream.jid), "alice@localhost/home")

    def test_stagesKeptApart(self):
        """
        Before and after authentication the features differ, and so do the
        cache's entries (SASL before, bind after).
        """
        before = self.features()
        self.login()
        self.assertIn(b"mechanisms", before)
        self.assertNotIn(b"urn:ietf:params:xml:ns:xmpp-bind", before)
        self.assertEqual(self.features(), before)

    def test_bounded(self):
        from xmppframe.streams.c2s import FeaturesCache
        cache = FeaturesCache(maxEntries=2)
        cache.put("a", 1)
        cache.put("b", 2)
        cache.put("c", 3)
        self.assertIsNone(cache.get("a"))
        self.assertEqual(cache.get("c"), 3)


class CoalescedWriteTests(StreamTestCase):
    """
    On a real socket, the stanzas a stream is given during one reactor turn
    go out in one write after the turn (L{WriteCoalescer}); every other
    write flushes them first, so the order on the wire is the order of the
    calls.
    """

    setUp = NegotiationTests.setUp

    def coalescingStream(self):
        stream, transport = self.login()
        counting = CountingTransport()
        stream.transport = counting
        # As connectionMade decides for a TCP or TLS transport.
        stream._coalesce = True
        return stream, counting

    def message(self, n):
        return etree.fromstring(
            "<message xmlns='jabber:client' to='alice@localhost/home' id='m%d'/>" % (n,))

    def test_oneWritePerTurn(self):
        stream, transport = self.coalescingStream()
        for n in range(3):
            stream.send(self.message(n))
        stream.sendSerialized(b"<message xmlns='jabber:client' id='m3'/>")
        self.assertEqual(transport.value(), b"")
        self.clock.advance(0)
        self.assertEqual(transport.writes, 1)
        self.assertEqual([m.get("id") for m in etree.fromstring(
            b"<x>" + transport.value() + b"</x>")], ["m0", "m1", "m2", "m3"])
        stream.send(self.message(4))
        self.clock.advance(0)
        self.assertEqual(transport.writes, 2)

    def test_otherWritesKeepOrder(self):
        """
        A stream error after queued stanzas comes after them.
        """
        stream, transport = self.coalescingStream()
        stream.send(self.message(1))
        stream.close("policy-violation")
        data = transport.value()
        self.assertTrue(data.startswith(b"<message"), data)
        self.assertIn(b"<stream:error><policy-violation", data)
        self.assertTrue(data.endswith(b"</stream:stream>"))
        self.clock.advance(0)
        self.assertEqual(transport.value(), data)

    def test_connectionLostDropsQueue(self):
        stream, transport = self.coalescingStream()
        stream.send(self.message(1))
        stream.connectionLost(None)
        self.clock.advance(0)
        self.assertEqual(transport.value(), b"")

    def test_inMemoryTransportsWrittenAtOnce(self):
        """
        Transports that are not sockets (these tests' own) are written to
        at once.
        """
        stream, transport = self.login()
        stream.send(self.message(1))
        self.assertIn(b'id="m1"', transport.value())


class ReadShapingTests(StreamTestCase):
    """
    A client that sends faster than C{read_rate} is read more slowly: its
    transport is paused for as long as it is ahead of its rate, and what it
    sent still arrives, in order.
    """

    def setUp(self):
        self.server, self.clock = makeServer(self, read_rate=1000, read_burst=2000)
        d = self.server.storage.open()
        d.addCallback(lambda _: self.server.hosts["localhost"].auth.createUser(
            "alice", "wonderland"))
        return d

    def loggedInWithFullBucket(self):
        """
        A logged-in stream with a full bucket, its transport, and the ids of
        the messages to alice it passes on (a list that grows).
        """
        stream, transport = self.login()
        # The login's bytes came out of the burst; the bucket refills.
        self.clock.advance(10)
        received = []
        self.server.hosts["localhost"].events.hook(
            "message/bare", lambda event: received.append(event.stanza.get("id")) or True)
        return stream, transport, received

    def test_floodPausedThenResumed(self):
        stream, transport, received = self.loggedInWithFullBucket()
        message = b"<message to='alice@localhost' id='m%d'><body>" + b"x" * 400 + b"</body></message>"
        for n in range(4):
            stream.dataReceived(message % (n,))
        self.assertEqual(transport.producerState, "producing")
        stream.dataReceived(message % (4,))
        # 5 x ~460 bytes: about 300 past the 2000-byte burst, 0.3 s at
        # 1000/s; the read that went past waits as well.
        self.assertEqual(transport.producerState, "paused")
        self.assertEqual(received, ["m0", "m1", "m2", "m3"])
        self.clock.advance(0.2)
        self.assertEqual(transport.producerState, "paused")
        self.assertEqual(received, ["m0", "m1", "m2", "m3"])
        self.clock.advance(0.2)
        self.assertEqual(transport.producerState, "producing")
        self.assertEqual(received, ["m0", "m1", "m2", "m3", "m4"])
        self.assertFalse(stream.closing)

    def test_moreWhileHeldBackWaitsForAll(self):
        """
        Bytes handed on while reading is held back (TLS decrypts a whole
        read into several records) wait too, until the whole debt is paid.
        """
        stream, transport, received = self.loggedInWithFullBucket()
        message = b"<message to='alice@localhost' id='m%d'><body>" + b"x" * 1400 + b"</body></message>"
        stream.dataReceived(message % (0,))
        stream.dataReceived(message % (1,))
        self.assertEqual(transport.producerState, "paused")
        stream.dataReceived(message % (2,))
        # About 4,400 bytes: 2,400 past the burst, 2.4 s at 1000/s.
        self.clock.advance(2.0)
        self.assertEqual(received, ["m0"])
        self.clock.advance(0.5)
        self.assertEqual(received, ["m0", "m1", "m2"])
        self.assertEqual(transport.producerState, "producing")

    def test_bytesBeforeARestartAreDropped(self):
        """
        When a held-back read ends SASL (a stream restart, RFC 6120 §6.4.6),
        what the peer had sent after it, before it could have seen
        <success/>, belongs to no stream and is dropped, as the parser drops
        the rest of a chunk that restarts.
        """
        stream, transport, _, response = self.scramResponse()
        # Empty the bucket, so that the response is held back.
        stream._shaper.take(stream._shaper.burst, self.clock.seconds())
        stream.dataReceived(response)
        stream.dataReceived(HEADER + b"<iq type='set' id='b1'><bind "
                            b"xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
        self.assertEqual(self.output(transport), b"")
        self.clock.advance(5)
        success = etree.fromstring(self.output(transport))
        self.assertEqual(success.tag, "{urn:ietf:params:xml:ns:xmpp-sasl}success")
        self.assertEqual(transport.producerState, "producing")
        self.assertIsNone(stream.jid.resource)
        stream.dataReceived(HEADER)
        self.assertIn(b"urn:ietf:params:xml:ns:xmpp-bind", self.output(transport))

    def test_closedWhileHeldBack(self):
        """
        A stream that closes while reading is held back (a server
        shutdown, say) parses nothing more and leaves no timer behind.
        """
        stream, transport = self.login()
        stream.dataReceived(b"<message to='alice@localhost'><body>" + b"x" * 5000
                            + b"</body></message>")
        self.assertEqual(transport.producerState, "paused")
        stream.close("system-shutdown")
        stream.connectionLost(None)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_unlimited(self):
        """
        C{read_rate = 0}: no limit.
        """
        self.server, self.clock = makeServer(self, read_rate=0)
        stream, transport = self.connect()
        stream.dataReceived(HEADER)
        stream.dataReceived(b" " * 100000)
        self.assertEqual(transport.producerState, "producing")


class PendingLimitTests(StreamTestCase):
    """
    A client that stops reading while more is written to it is cut off
    once more than C{max_pending} bytes wait for it.
    """

    def setUp(self):
        self.server, self.clock = makeServer(self, max_pending=1000)
        d = self.server.storage.open()
        d.addCallback(lambda _: self.server.hosts["localhost"].auth.createUser(
            "alice", "wonderland"))
        return d

    def test_notReadingIsCutOff(self):
        from xmppframe.streams import xmlstream
        stream, transport = self.login()
        waiting = [0]
        self.patch(xmlstream, "pendingBytes", lambda t: waiting[0])
        message = etree.fromstring(
            "<message xmlns='jabber:client' to='alice@localhost/home'><body>hi</body></message>")
        stream.send(message)
        self.assertFalse(stream.closing)
        waiting[0] = 1001
        stream.send(message)
        self.assertTrue(stream.closing)
        self.assertIn(b"<policy-violation", transport.value())
        self.assertTrue(transport.disconnecting)
