"""
Tests for L{xmppframe.xml.safe}: the one lxml parser factory.
"""

import os

from lxml import etree

from twisted.trial import unittest

from xmppframe.xml.safe import SAFE_OPTIONS, safeParser, safePullParser


class SafeParserTests(unittest.TestCase):

    def test_noEntityExpanded(self):
        """
        An entity declared in an internal DTD subset is not expanded.
        """
        text = (b"<!DOCTYPE a [<!ENTITY e 'expanded'>]>"
                b"<a xmlns='urn:example'>&e;</a>")
        element = etree.fromstring(text, safeParser())
        self.assertNotIn("expanded", etree.tostring(element, encoding="unicode"))

    def test_noExternalEntity(self):
        """
        An external entity naming a local file is not read.
        """
        secret = os.path.abspath(self.mktemp())
        with open(secret, "w") as f:
            f.write("secret")
        text = ("<!DOCTYPE a [<!ENTITY e SYSTEM 'file://%s'>]><a>&e;</a>" % (secret,))
        element = etree.fromstring(text.encode("utf-8"), safeParser())
        self.assertNotIn("secret", etree.tostring(element, encoding="unicode"))

    def test_commentsAndPIsRemoved(self):
        element = etree.fromstring(b"<a><!-- note --><?pi data?><b/>text</a>", safeParser())
        self.assertEqual(etree.tostring(element), b"<a><b/>text</a>")

    def test_overrides(self):
        """
        An override replaces one option and keeps the others.
        """
        parser = safeParser(remove_comments=False)
        element = etree.fromstring(b"<a><!--kept--><?pi data?></a>", parser)
        self.assertEqual(etree.tostring(element), b"<a><!--kept--></a>")

    def test_options(self):
        self.assertEqual(SAFE_OPTIONS, {
            "resolve_entities": False, "no_network": True, "load_dtd": False,
            "huge_tree": False, "remove_comments": True, "remove_pis": True})

    def test_pullParser(self):
        parser = safePullParser()
        parser.feed(b"<a><!-- note --><b>")
        parser.feed(b"</b></a>")
        events = [(event, element.tag) for event, element in parser.read_events()]
        self.assertEqual(events, [("start", "a"), ("start", "b"), ("end", "b"), ("end", "a")])
