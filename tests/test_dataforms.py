"""
Tests for L{xmppframe.xml.dataforms}: building data forms and reading them
back (XEP-0004 §3), and checking submissions against the form offered.
"""

from lxml import etree

from twisted.trial import unittest

from xmppframe.xml.dataforms import (
    DATA_FORMS, Field, Form, FormError, buildForm, findForm, parseSubmittedForm)
from xmppframe.errors import StanzaError
from xmppframe.jid import parseJID

from tests.fakes import parse

MAM = "urn:xmpp:mam:2"


def x(body, type="submit", formType=MAM):
    """
    A C{<x/>} as a client would send it, parsed like a received stanza.
    """
    formTypeField = ("" if formType is None else
                     "<field var='FORM_TYPE' type='hidden'><value>%s</value></field>"
                     % (formType,))
    message = parse("<message><x xmlns='%s' type='%s'>%s%s</x></message>"
                    % (DATA_FORMS, type, formTypeField, body))
    return message[0]


class BuildTests(unittest.TestCase):

    def test_form(self):
        """
        XEP-0004 §3: type, title, instructions, FORM_TYPE first and hidden
        (XEP-0068), then the fields with their children.
        """
        element = buildForm("form", MAM, [
            Field("with", "jid-single", label="With", desc="A contact"),
            {"var": "flag", "type": "boolean", "values": (True,), "required": True},
            Field("color", "list-single", options=[("Red", "red"), "blue"]),
        ], title="Search", instructions="Fill it in")
        self.assertEqual(element.tag, "{jabber:x:data}x")
        self.assertEqual(element.get("type"), "form")
        self.assertEqual(element.nsmap, {None: DATA_FORMS})
        children = [etree.QName(child).localname for child in element]
        self.assertEqual(children, ["title", "instructions", "field", "field", "field", "field"])
        formType = element[2]
        self.assertEqual((formType.get("var"), formType.get("type"), formType[0].text),
                         ("FORM_TYPE", "hidden", MAM))
        withField = element[3]
        self.assertEqual(withField.get("label"), "With")
        self.assertEqual(withField[0].text, "A contact")
        flag = element[4]
        self.assertEqual([etree.QName(c).localname for c in flag], ["required", "value"])
        self.assertEqual(flag[1].text, "1")
        color = element[5]
        self.assertEqual([(o.get("label"), o[0].text) for o in color],
                         [("Red", "red"), (None, "blue")])

    def test_roundTrip(self):
        original = Form("result", "urn:example", [
            Field("a", "text-multi", values=("one", "two")),
            Field(None, "fixed", values=("Section",)),
        ], title="T", instructions=("i1", "i2"))
        form = Form.fromElement(parse(
            "<message>%s</message>" % (etree.tostring(original.toElement()).decode(),))[0])
        self.assertEqual(form.type, "result")
        self.assertEqual(form.formType, "urn:example")
        self.assertEqual(form.title, "T")
        self.assertEqual(form.instructions, ("i1", "i2"))
        self.assertEqual(form.values("a"), ("one", "two"))
        self.assertEqual(form.fields[1], Field(None, "fixed", values=("Section",)))
        self.assertEqual(form.formTypeField.type, "hidden")
        self.assertIsNone(form.field("missing"))

    def test_badDefinitions(self):
        """
        Programming errors are caught when the form is built.
        """
        self.assertRaises(ValueError, Field, "a", "text-huge")
        self.assertRaises(ValueError, Field, None, "text-single")
        self.assertRaises(ValueError, Form, "questionnaire")
        self.assertRaises(ValueError, Form, "form", None, [Field("a"), Field("a")])
        self.assertRaises(ValueError, Form, "form", MAM, [Field("FORM_TYPE")])

    def test_findForm(self):
        query = parse(
            "<iq type='set' id='1'><query xmlns='urn:example'>"
            "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
            "<value>urn:other</value></field></x>"
            "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'>"
            "<value>%s</value></field></x></query></iq>" % (MAM,))[0]
        self.assertIs(findForm(query), query[0])
        self.assertIs(findForm(query, MAM), query[1])
        self.assertIsNone(findForm(query, "urn:none"))


class ReadTests(unittest.TestCase):

    def test_unknownFieldType(self):
        """
        §3.3: an unknown field type is taken as text-single.
        """
        form = Form.fromElement(x("<field var='a' type='slider'><value>3</value></field>"))
        self.assertEqual(form.field("a").type, "text-single")

    def test_malformed(self):
        for body, type in [
                ("<field><value>v</value></field>", "submit"),  # §3.2: var required
                ("<field var='a'/><field var='a'/>", "submit"),  # var unique
                ("<field var='a' type='list-single'><option/></field>", "form"),
                ("", "wrong")]:
            self.assertRaises(FormError, Form.fromElement, x(body, type=type))
        self.assertRaises(FormError, Form.fromElement, etree.Element("{urn:other}x"))


SCHEMA = [
    Field("with", "jid-single"),
    Field("start", "text-single"),
    Field("flag", "boolean"),
    Field("people", "jid-multi"),
    Field("lines", "text-multi"),
    Field("color", "list-single", options=["red", "blue"]),
    Field("tags", "list-multi", options=["a", "b", "c"]),
    Field("note", "fixed", values=("ignored",)),
    Field("token", "hidden", values=("t1",)),
]


class SubmitTests(unittest.TestCase):
    """
    L{parseSubmittedForm}: the form-processing side (XEP-0004 §3.1, §3.5,
    §4).
    """

    def assertRefused(self, element, text, fields=SCHEMA, **kwargs):
        error = self.assertRaises(StanzaError, parseSubmittedForm, element, fields,
                                  MAM, **kwargs)
        self.assertEqual(error.condition, kwargs.get("condition", "bad-request"))
        self.assertIn(text, error.text)
        return error

    def test_values(self):
        """
        Values are typed by the module's definition, not by the submitted
        'type' (§3.2); only submitted fields are in the result (§3.5);
        unknown fields are ignored (§3.1); duplicate JIDs are dropped
        (§3.3 jid-multi).
        """
        element = x(
            "<field var='with' type='text-single'><value>Juliet@Capulet.lit</value></field>"
            "<field var='flag'><value>true</value></field>"
            "<field var='people'><value>a@b</value><value>c@d</value><value>a@b</value></field>"
            "<field var='lines'><value>one</value><value>two</value></field>"
            "<field var='color'><value>blue</value></field>"
            "<field var='tags'><value>c</value><value>a</value></field>"
            "<field var='token'><value>t1</value></field>"
            "<field var='extra'><value>whatever</value></field>")
        self.assertEqual(parseSubmittedForm(element, SCHEMA, MAM), {
            "with": parseJID("juliet@capulet.lit"),
            "flag": True,
            "people": (parseJID("a@b"), parseJID("c@d")),
            "lines": ("one", "two"),
            "color": "blue",
            "tags": ("c", "a"),
            "token": "t1",
        })

    def test_booleans(self):
        for text, value in [("1", True), ("true", True), ("0", False), ("false", False)]:
            element = x("<field var='flag'><value>%s</value></field>" % (text,))
            self.assertEqual(parseSubmittedForm(element, SCHEMA), {"flag": value})
        self.assertRefused(x("<field var='flag'><value>yes</value></field>"),
                           "'flag' takes true or false")

    def test_emptyValues(self):
        """
        §3.6: an empty field is how a value is unset; it is returned so.
        """
        element = x("<field var='with'/><field var='start'><value/></field>"
                    "<field var='people'/>")
        self.assertEqual(parseSubmittedForm(element, SCHEMA),
                         {"with": None, "start": "", "people": ()})

    def test_required(self):
        fields = [Field("username", required=True)]
        self.assertRefused(x(""), "'username' is required", fields)
        self.assertRefused(x("<field var='username'><value> </value></field>"),
                           "'username' is required", fields)

    def test_refusals(self):
        for body, text in [
                ("<field var='start'><value>1</value><value>2</value></field>",
                 "'start' takes one value, got 2"),
                ("<field var='color'><value>green</value></field>",
                 "'green' is not an option of the field 'color'"),
                ("<field var='tags'><value>a</value><value>z</value></field>",
                 "'z' is not an option"),
                ("<field var='with'><value>a@b@c</value></field>",
                 "'with' has an invalid JID 'a@b@c'"),
                ("<field var='people'><value>@x</value></field>", "invalid JID"),
                ("<field var='token'><value>1</value><value>2</value></field>",
                 "'token' takes one value")]:
            self.assertRefused(x(body), text)

    def test_formType(self):
        """
        A submission for another protocol is refused; one without a
        FORM_TYPE is read.
        """
        self.assertRefused(x("", formType="urn:other"), "Unexpected FORM_TYPE 'urn:other'")
        self.assertEqual(parseSubmittedForm(
            x("<field var='start'><value>s</value></field>", formType=None), SCHEMA, MAM),
            {"start": "s"})

    def test_notASubmission(self):
        self.assertRefused(x("", type="form"), "Expected a data form of type 'submit'")
        self.assertRefused(x("<field/>"), "Invalid data form")

    def test_condition(self):
        """
        The wrapper protocol chooses the condition (XEP-0004 §4 suggests
        not-acceptable).
        """
        self.assertRefused(x("<field var='flag'><value>2</value></field>"), "flag",
                           condition="not-acceptable")
