"""
Fuzz targets (hypothesis): whatever a peer sends, the code that reads it
raises only its documented error types, never anything that would escape
as a traceback.

  - the stream parser (L{xmppframe.xml.parser}): L{StreamError}, and never
    C{internal-server-error}, which is what an unexpected exception inside
    it becomes;
  - JID preparation (L{xmppframe.jid}): L{InvalidJID}; a JID that parses
    prints as text that parses to the same JID;
  - the server side of SASL (L{xmppframe.streams.sasl}): Deferreds that
    fire with a challenge or success or fail with L{SASLFailure}, never
    C{temporary-auth-failure} (what an unexpected error becomes) and never
    success without the password;
  - data forms (L{xmppframe.xml.dataforms}): L{FormError} when reading a
    form, L{StanzaError} when reading a submission.

Each target runs for C{XMPPFRAME_FUZZ_SECONDS} seconds (default 20, so the
whole module takes under two minutes in the test suite), in batches of
hypothesis examples until the time is up.  C{./dev fuzz --minutes N} runs
all four in parallel for N minutes each; docs/fuzzing.md has the outcome
of the long runs.
"""

import base64
import os
import time

import scramp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from twisted.python.failure import Failure
from twisted.trial import unittest

from xmppframe.errors import StanzaError, StreamError
from xmppframe.jid import InvalidJID, JIDCache, parseJID, prepareDomainpart, \
    prepareLocalpart, prepareResourcepart
from xmppframe.streams import sasl
from xmppframe.xml.dataforms import Field, Form, FormError, parseSubmittedForm
from xmppframe.xml.parser import StreamParser

from tests.test_sasl import FakeAuth

#: Seconds each target runs.
SECONDS = float(os.environ.get("XMPPFRAME_FUZZ_SECONDS", "20"))

#: Examples per hypothesis run; runs repeat until the time is up.
_BATCH = settings(max_examples=200, deadline=None, database=None, derandomize=False,
                  suppress_health_check=list(HealthCheck))


def runFor(seconds, test):
    """
    Call the hypothesis test C{test} again and again for C{seconds}; a
    failing example raises at once (shrunk).

    @return: how many runs there were.
    """
    deadline = time.monotonic() + seconds
    runs = 0
    while True:
        test()
        runs += 1
        if time.monotonic() >= deadline:
            return runs


# Stream parser

HEADER = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0'>")

#: Pieces of markup that streams are made of, good and bad, so that random
#: sequences reach further into the parser than random bytes would.
_MARKUP = [
    b"<message>", b"</message>", b"<body>", b"</body>", b"<iq type='get' id='1'>", b"</iq>",
    b"<presence/>", b"<x xmlns='urn:x'>", b"</x>", b"<a:b>", b"</a:b>", b"xmlns:a='urn:a'",
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    b"</stream:stream>", b"<?xml version='1.0'?>", b"<!DOCTYPE x>", b"<!ENTITY e 'x'>",
    b"<!--c-->", b"<?pi x?>", b"<![CDATA[x]]>", b"&amp;", b"&e;", b"&#0;", b"&#x10FFFF;",
    b"&#xD800;", b" ", b"\n", b"\x00", b"\xff", b"\xc3", b"\xa9", b"'", b'"', b"=", b"<", b">",
    b"/", b"text", b"\xe2\x80\xae", b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
    b" attr='v'", b" attr=\"v\" ", b"encoding='utf-16'", b"<a" + b" x" * 40,
]

_streamChunks = st.lists(
    st.one_of(st.binary(max_size=64),
              st.lists(st.sampled_from(_MARKUP), max_size=16).map(b"".join)),
    max_size=24)


class _ParserRun:
    """
    Feed chunks to a parser whose callbacks may restart or close it, as
    streams do.
    """

    def __init__(self, actions):
        self.actions = list(actions)
        self.parser = StreamParser(self._onHeader, self._onElement, self._onEnd,
                                   maxStanzaSize=4096, maxHeaderSize=2048, maxDepth=8)

    def _act(self):
        action = self.actions.pop() if self.actions else None
        if action == "reset":
            self.parser.reset()
        elif action == "close":
            self.parser.close()

    def _onHeader(self, header):
        assert header.tag == "{http://etherx.jabber.org/streams}stream"
        self._act()

    def _onElement(self, element):
        # What a stream does with an element: serialize it.
        etree.tostring(element)
        self._act()

    def _onEnd(self):
        pass

    def feed(self, chunks):
        failed = False
        for chunk in chunks:
            try:
                self.parser.feed(chunk)
            except StreamError as e:
                assert e.condition != "internal-server-error", e
                assert not failed, "fed after a failure and raised again"
                failed = True


# JIDs

_jidText = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(["a", "@", "/", ".", "[", "]", ":", "::1", "\u00df", "\u0130",
                              "\u200d", "\ufb01", "xn--", "-", "example.org", " ", "\u3002",
                              "\U0001F600", "\u0301", "\u212b", "A", "1", "%", "\x00"]),
             max_size=20).map("".join))


# SASL

_SCRAM_PIECES = ["n,,", "y,,", "p=tls-unique,,", "p=tls-server-end-point,,", "p=,,", "n,a=user,",
                 "n=user", "n=us=2Cer", "n=us=er", "n=", "r=", "r=abc", "m=x", ",", "c=biws",
                 "p=", "p=AAAA", "s=", "i=4096", "=3D", "\x00", "\u00e9", "user", "pencil"]

_saslData = st.one_of(
    st.none(),
    st.binary(max_size=128),
    st.lists(st.sampled_from(_SCRAM_PIECES), max_size=12).map(lambda p: "".join(p).encode()),
    st.lists(st.sampled_from([b"", b"user", b"pencil", b"\x00", b"\xff", b"a" * 300]),
             max_size=4).map(b"\x00".join))

_MECHANISMS = ("PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS")
_BINDINGS = {"tls-server-end-point": b"\x01" * 32, "tls-unique": b"\x02" * 12}


def _sameClientFinal(changed, final):
    """
    Whether a mangled SCRAM client-final-message says what C{final} says.
    The proof is base64 and its last character before the padding has
    unused bits (RFC 4648 §3.5): a different character there decodes to
    the same proof, which the server rightly accepts.
    """
    if changed == final:
        return True
    head, _, proof = final.rpartition(b",p=")
    changedHead, _, changedProof = changed.rpartition(b",p=")
    if changedHead != head:
        return False
    try:
        return base64.b64decode(changedProof, validate=True) == base64.b64decode(proof)
    except ValueError:
        return False


def _outcome(d):
    """
    The result of an already fired Deferred, or the L{SASLFailure} it
    failed with; anything else is a bug.
    """
    results = []
    d.addBoth(results.append)
    assert results, "the exchange is waiting on nothing"
    result = results[0]
    if isinstance(result, Failure):
        assert result.check(sasl.SASLFailure), result.getTraceback()
        assert result.value.condition != "temporary-auth-failure", result.getTraceback()
        return result.value
    assert isinstance(result, (sasl.SASLChallenge, sasl.SASLSuccess)), result
    return result


# Data forms

_formText = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
_FIELD_TYPES = ["boolean", "fixed", "hidden", "jid-multi", "jid-single", "list-multi",
                "list-single", "text-multi", "text-private", "text-single", "bogus", None]
_DATA = "jabber:x:data"


def _qualified(local):
    return "{%s}%s" % (_DATA, local)


_valueElement = st.builds(lambda text: (_qualified("value"), {}, text, []),
                          st.one_of(st.none(), _formText, st.sampled_from(
                              ["true", "false", "1", "0", "juliet@example.com",
                               "@", "a@b/c", " ", "FORM_TYPE", "urn:x"])))
_optionElement = st.builds(lambda label, values: (_qualified("option"),
                                                  {} if label is None else {"label": label},
                                                  None, values),
                           st.one_of(st.none(), _formText), st.lists(_valueElement, max_size=3))
_fieldElement = st.builds(
    lambda var, type, children, required: (
        _qualified("field"),
        {k: v for k, v in (("var", var), ("type", type)) if v is not None},
        None, children + ([(_qualified("required"), {}, None, [])] if required else [])),
    st.one_of(st.none(), st.sampled_from(["FORM_TYPE", "a", "b", "flag", "who", "whom", "pick"]),
              _formText),
    st.sampled_from(_FIELD_TYPES),
    st.lists(st.one_of(_valueElement, _optionElement,
                       st.builds(lambda t: (_qualified("desc"), {}, t, []), _formText),
                       st.builds(lambda t: ("{urn:other}x", {}, t, []), _formText)),
             max_size=5),
    st.booleans())
_formElement = st.builds(
    lambda tag, type, children: (tag, {} if type is None else {"type": type}, None, children),
    st.sampled_from([_qualified("x"), _qualified("x"), "{urn:other}x"]),
    st.one_of(st.none(), st.sampled_from(["form", "submit", "cancel", "result", "other"])),
    st.lists(st.one_of(_fieldElement,
                       st.builds(lambda t: (_qualified("title"), {}, t, []), _formText),
                       st.builds(lambda t: (_qualified("instructions"), {}, t, []), _formText)),
             max_size=8))


def _build(spec):
    tag, attributes, text, children = spec
    element = etree.Element(tag, attributes, nsmap={None: _DATA})
    element.text = text
    for child in children:
        element.append(_build(child))
    return element


_MODULE_FIELDS = [
    Field("flag", "boolean"), Field("who", "jid-single"), Field("whom", "jid-multi"),
    Field("pick", "list-single", options=(("One", "1"), ("Two", "2"))),
    Field("a", "text-single", required=True), Field("b", "text-multi"),
    Field("FORM_TYPE", "hidden", values=("urn:x",)),
]


class FuzzTests(unittest.TestCase):
    """
    One test per target, each running for L{SECONDS}.
    """

    timeout = SECONDS + 600

    def test_streamParser(self):
        @_BATCH
        @given(st.booleans(), _streamChunks,
               st.lists(st.sampled_from([None, None, None, "reset", "close"]), max_size=8))
        def target(withHeader, chunks, actions):
            run = _ParserRun(actions)
            run.feed(([HEADER] if withHeader else []) + chunks)

        runFor(SECONDS, target)

    def test_streamParserByteAtATime(self):
        """
        The same stream split at every byte gives the same outcome as in
        one piece: the same elements, and an error or not.
        """
        def outcome(chunks):
            elements, errors = [], []
            parser = StreamParser(lambda header: None,
                                  lambda element: elements.append(etree.tostring(element)),
                                  lambda: None, maxStanzaSize=1 << 20)
            for chunk in chunks:
                try:
                    parser.feed(chunk)
                except StreamError as e:
                    assert e.condition != "internal-server-error", e
                    errors.append(e.condition)
            return elements, bool(errors)

        @_BATCH
        @given(st.lists(st.sampled_from(_MARKUP[:12] + [b"hi", b" ", b"&amp;"]), max_size=20))
        def target(pieces):
            # The stream is closed at the end: some errors (an undeclared
            # prefix) are only looked for when an element completes, so an
            # unfinished one may fail in one piece and not yet byte by byte.
            data = HEADER + b"".join(pieces) + b"</stream:stream>"
            whole = outcome([data])
            split = outcome([data[i:i + 1] for i in range(len(data))])
            assert whole[1] == split[1], (data, whole, split)
            if not whole[1]:
                assert whole[0] == split[0], (data, whole, split)

        runFor(SECONDS / 4, target)

    def test_jid(self):
        cache = JIDCache(maxsize=64)

        @_BATCH
        @given(_jidText)
        def target(text):
            for prepare in (prepareLocalpart, prepareDomainpart, prepareResourcepart):
                try:
                    prepare(text)
                except InvalidJID:
                    pass
            try:
                jid = parseJID(text)
            except InvalidJID:
                try:
                    cache.parse(text)
                except InvalidJID:
                    return
                raise AssertionError("the cache parsed what parseJID refused: %r" % (text,))
            # A prepared JID is stable: its text parses to itself.
            self.assertEqual(parseJID(jid.full), jid)
            self.assertEqual(cache.parse(text), jid)

        runFor(SECONDS, target)

    def test_sasl(self):
        auth = FakeAuth()
        auth.addUser("user", "pencil")

        @_BATCH
        @given(st.sampled_from(_MECHANISMS), st.booleans(), _saslData,
               st.lists(st.one_of(_saslData.filter(lambda d: d is not None),
                                  st.just(b"=")), max_size=4))
        def target(name, encrypted, initial, responses):
            try:
                mechanism = sasl.makeMechanism(name, auth, _BINDINGS, encrypted)
            except sasl.SASLFailure:
                return
            result = _outcome(mechanism.start(initial))
            for response in responses:
                if not isinstance(result, sasl.SASLChallenge):
                    break
                result = _outcome(mechanism.step(response))
            if isinstance(result, sasl.SASLSuccess):
                # Only PLAIN can succeed on made-up data, and only with the
                # password.
                assert name == "PLAIN", (name, initial, responses)
                assert b"\x00user\x00pencil" in (initial or b"") + b"".join(responses)
            # After the end, the exchange refuses more.
            if not isinstance(result, sasl.SASLChallenge):
                _outcome(mechanism.step(b"x"))

        runFor(SECONDS * 3 / 4, target)

        # And a real SCRAM exchange with the final message mangled.
        @_BATCH
        @given(st.sampled_from(["SCRAM-SHA-1", "SCRAM-SHA-256"]), st.integers(0, 200),
               st.binary(max_size=8))
        def mangled(name, position, junk):
            client = scramp.ScramClient([name], "user", "pencil")
            mechanism = sasl.makeMechanism(name, auth, {}, True)
            challenge = _outcome(mechanism.start(client.get_client_first().encode()))
            client.set_server_first(challenge.data.decode())
            final = client.get_client_final().encode()
            position = min(position, len(final))
            changed = final[:position] + junk + final[position + len(junk):]
            result = _outcome(mechanism.step(changed))
            if _sameClientFinal(changed, final):
                assert isinstance(result, sasl.SASLSuccess), result
            else:
                assert not isinstance(result, sasl.SASLSuccess), (final, changed)

        runFor(SECONDS / 4, mangled)

    def test_dataForms(self):
        @_BATCH
        @given(_formElement)
        def target(spec):
            element = _build(spec)
            try:
                form = Form.fromElement(element)
            except FormError:
                pass
            else:
                # What was read can be written and read back the same.
                again = Form.fromElement(form.toElement())
                assert [f.var for f in again.fields] == [f.var for f in form.fields]
            try:
                parseSubmittedForm(element, _MODULE_FIELDS, formType="urn:x")
            except StanzaError as e:
                assert e.condition == "bad-request", e

        runFor(SECONDS, target)

    def test_saslDecode(self):
        """
        The base64 layer of SASL (RFC 6120 §6.4.2) under C{<auth/>} and
        C{<response/>}: only C{incorrect-encoding}.
        """
        from xmppframe.streams.negotiation import _decode

        @_BATCH
        @given(st.one_of(st.none(), st.text(max_size=40),
                         st.binary(max_size=30).map(lambda b: base64.b64encode(b).decode())),
               st.booleans())
        def target(text, allowAbsent):
            try:
                _decode(text, allowAbsent)
            except sasl.SASLFailure as failure:
                assert failure.condition == "incorrect-encoding"

        runFor(min(SECONDS, 5), target)
