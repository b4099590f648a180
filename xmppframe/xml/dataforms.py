"""
Data forms (XEP-0004): build the forms a module offers or returns, read
the forms peers send, and check a submission against the form offered.

Modules that speak a protocol wrapped around a data form (service
discovery extensions, registration, archive queries, commands) share this
one implementation instead of walking C{jabber:x:data} elements by hand.

A form is described by L{Field}s; L{Form} turns them into an element and
back.  L{parseSubmittedForm} is the form-processing side (XEP-0004 §3.3,
§4): it reads a C{type='submit'} form against the fields the module
defined, and turns every problem into a L{StanzaError} whose text names
the field, so a client never sees a traceback.
"""

from dataclasses import dataclass, field

from lxml import etree

from xmppframe.errors import StanzaError
from xmppframe.jid import InvalidJID, parseJID
from xmppframe.xml import namespaces as NS

__all__ = [
    "DATA_FORMS", "FORM_TYPES", "FIELD_TYPES", "FormError", "Field", "Form",
    "buildForm", "findForm", "parseSubmittedForm",
]

#: The data forms namespace (XEP-0004 §9.1).
DATA_FORMS = "jabber:x:data"

#: XEP-0004 §3.1 form types.
FORM_TYPES = ("form", "submit", "cancel", "result")

#: XEP-0004 §3.3 field types.
FIELD_TYPES = (
    "boolean", "fixed", "hidden", "jid-multi", "jid-single", "list-multi",
    "list-single", "text-multi", "text-private", "text-single",
)

#: Field types that may carry more than one value (XEP-0004 §3.2).
MULTI_VALUED = frozenset({"jid-multi", "list-multi", "text-multi", "hidden"})

#: Field types read from a submission as a tuple of values.  A hidden
#: field comes back as the one value the module put in it.
_SUBMITTED_MULTI = frozenset({"jid-multi", "list-multi", "text-multi"})

#: The lexical forms of an xs:boolean (XEP-0004 §3.3, boolean).
_BOOLEANS = {"1": True, "true": True, "0": False, "false": False}

_X = NS.qname(DATA_FORMS, "x")
_FIELD = NS.qname(DATA_FORMS, "field")
_VALUE = NS.qname(DATA_FORMS, "value")
_OPTION = NS.qname(DATA_FORMS, "option")
_REQUIRED = NS.qname(DATA_FORMS, "required")
_DESC = NS.qname(DATA_FORMS, "desc")
_TITLE = NS.qname(DATA_FORMS, "title")
_INSTRUCTIONS = NS.qname(DATA_FORMS, "instructions")

#: The hidden field that names the form's protocol (XEP-0068).
FORM_TYPE = "FORM_TYPE"


class FormError(ValueError):
    """
    An element is not a well-formed data form (XEP-0004 §3).
    """


@dataclass(frozen=True)
class Field:
    """
    One C{<field/>} (XEP-0004 §3.2).

    @ivar var: the field's name; may be C{None} only for C{fixed} fields.
    @ivar type: one of L{FIELD_TYPES}, or C{None} when a received form
        leaves it to context (§3.2: forms other than 'form' may omit it).
    @ivar values: the values, a tuple of C{str}.
    @ivar options: C{(label, value)} pairs of a list field; a plain string
        is taken as a value without a label.
    """

    var: str = None
    type: str = None
    label: str = None
    values: tuple = ()
    required: bool = False
    desc: str = None
    options: tuple = field(default=())

    def __post_init__(self):
        if self.type is not None and self.type not in FIELD_TYPES:
            raise ValueError("unknown data form field type %r" % (self.type,))
        if self.var is None and self.type != "fixed":
            raise ValueError("only a fixed field may have no var")
        if isinstance(self.values, (str, bool)):
            object.__setattr__(self, "values", (self.values,))
        object.__setattr__(self, "values", tuple(_valueText(v) for v in self.values))
        object.__setattr__(self, "options", tuple(
            (None, option) if isinstance(option, str) else tuple(option)
            for option in self.options))

    @property
    def kind(self):
        """
        The type to interpret the values by: text-single when unspecified
        (XEP-0004 §3.3).
        """
        return self.type or "text-single"

    @property
    def value(self):
        """
        The first value, or C{None}.
        """
        return self.values[0] if self.values else None

    def toElement(self):
        element = etree.Element(_FIELD)
        if self.var is not None:
            element.set("var", self.var)
        if self.type is not None:
            element.set("type", self.type)
        if self.label is not None:
            element.set("label", self.label)
        if self.desc is not None:
            etree.SubElement(element, _DESC).text = self.desc
        if self.required:
            etree.SubElement(element, _REQUIRED)
        for value in self.values:
            etree.SubElement(element, _VALUE).text = value
        for label, value in self.options:
            option = etree.SubElement(element, _OPTION)
            if label is not None:
                option.set("label", label)
            etree.SubElement(option, _VALUE).text = value
        return element

    @classmethod
    def fromElement(cls, element):
        """
        @raise FormError: if the field is malformed.
        """
        type = element.get("type")
        if type is not None and type not in FIELD_TYPES:
            # §3.3: an unknown type is taken as text-single.
            type = "text-single"
        var = element.get("var")
        if var is None and type != "fixed":
            raise FormError("a field without 'var' that is not fixed")
        values = []
        options = []
        required = False
        desc = None
        for child in element:
            tag = child.tag
            if tag == _VALUE:
                values.append(child.text or "")
            elif tag == _OPTION:
                optionValues = [v.text or "" for v in child if v.tag == _VALUE]
                if len(optionValues) != 1:
                    raise FormError("an option of field %r without exactly one value" % (var,))
                options.append((child.get("label"), optionValues[0]))
            elif tag == _REQUIRED:
                required = True
            elif tag == _DESC:
                desc = child.text or ""
        return cls(var=var, type=type, label=element.get("label"), values=tuple(values),
                   required=required, desc=desc, options=tuple(options))


def _valueText(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


class Form:
    """
    A data form (XEP-0004 §3).

    @ivar type: one of L{FORM_TYPES}.
    @ivar formType: the value of the hidden C{FORM_TYPE} field (XEP-0068),
        or C{None}.
    @ivar fields: the L{Field}s other than C{FORM_TYPE}, in order.
    """

    def __init__(self, type, formType=None, fields=(), title=None, instructions=()):
        if type not in FORM_TYPES:
            raise ValueError("unknown data form type %r" % (type,))
        self.type = type
        self.formType = formType
        self.fields = tuple(fields)
        self.title = title
        if isinstance(instructions, str):
            instructions = (instructions,)
        self.instructions = tuple(instructions)
        #: The C{FORM_TYPE} L{Field} itself, or C{None}.
        self.formTypeField = None if formType is None else Field(
            FORM_TYPE, "hidden", values=(formType,))
        seen = set()
        for f in self.fields:
            if f.var is None:
                continue
            if f.var == FORM_TYPE or f.var in seen:
                raise ValueError("field %r given twice" % (f.var,))
            seen.add(f.var)

    def field(self, var):
        """
        @return: the L{Field} named C{var}, or C{None}.
        """
        for f in self.fields:
            if f.var == var:
                return f
        return None

    def values(self, var):
        """
        @return: the values of field C{var}, an empty tuple if absent.
        """
        f = self.field(var)
        return () if f is None else f.values

    def toElement(self):
        """
        @return: a new C{<x xmlns='jabber:x:data'/>} element, the
            C{FORM_TYPE} field first and hidden.
        """
        element = etree.Element(_X, nsmap={None: DATA_FORMS})
        element.set("type", self.type)
        if self.title is not None:
            etree.SubElement(element, _TITLE).text = self.title
        for text in self.instructions:
            etree.SubElement(element, _INSTRUCTIONS).text = text
        if self.formType is not None:
            element.append(Field(FORM_TYPE, "hidden", values=(self.formType,)).toElement())
        for f in self.fields:
            element.append(f.toElement())
        return element

    @classmethod
    def fromElement(cls, element):
        """
        Read a received form.  Its C{FORM_TYPE} field as received (type,
        every value) is kept in L{formTypeField} for callers that check it
        (XEP-0115 §5.4).

        @raise FormError: if C{element} is not a well-formed data form.
        """
        if element.tag != _X:
            raise FormError("not a data form: %s" % (element.tag,))
        type = element.get("type")
        if type not in FORM_TYPES:
            raise FormError("unknown data form type %r" % (type,))
        title = None
        instructions = []
        fields = []
        seen = set()
        for child in element:
            tag = child.tag
            if tag == _FIELD:
                f = Field.fromElement(child)
                if f.var is not None:
                    if f.var in seen:
                        # §3.2: 'var' uniquely identifies the field.
                        raise FormError("field %r given twice" % (f.var,))
                    seen.add(f.var)
                fields.append(f)
            elif tag == _TITLE:
                title = child.text or ""
            elif tag == _INSTRUCTIONS:
                instructions.append(child.text or "")
        formTypeField = next((f for f in fields if f.var == FORM_TYPE), None)
        form = cls(type, formTypeField.value if formTypeField is not None else None,
                   [f for f in fields if f.var != FORM_TYPE], title, instructions)
        form.formTypeField = formTypeField
        return form

    def __repr__(self):
        return "<Form type=%r FORM_TYPE=%r fields=%r>" % (
            self.type, self.formType, [f.var for f in self.fields])


def buildForm(type, formType=None, fields=(), title=None, instructions=()):
    """
    Build a data form element.

    @param type: 'form', 'submit', 'cancel' or 'result'.
    @param formType: the C{FORM_TYPE} (a hidden field), or C{None}.
    @param fields: L{Field}s, or dicts of L{Field}'s arguments, e.g.
        C{{"var": "with", "type": "jid-single", "label": "With"}}.
    @return: a new C{<x xmlns='jabber:x:data'/>} element.
    """
    fields = [f if isinstance(f, Field) else Field(**f) for f in fields]
    return Form(type, formType, fields, title, instructions).toElement()


def findForm(parent, formType=None):
    """
    The data form child of C{parent} (a wrapper protocol's element), the
    one whose C{FORM_TYPE} is C{formType} when given.

    @return: the C{<x/>} element, or C{None}.
    """
    for child in parent:
        if child.tag != _X:
            continue
        if formType is None:
            return child
        for f in child:
            if f.tag == _FIELD and f.get("var") == FORM_TYPE:
                values = [v.text for v in f if v.tag == _VALUE]
                if values[:1] == [formType]:
                    return child
    return None


def parseSubmittedForm(element, fields, formType=None, condition="bad-request"):
    """
    Read a submitted form (XEP-0004 §3.1 'submit') against the fields the
    module defined.

    Only the fields submitted are in the result (§3.5: the others keep
    their current value); fields the module does not know are ignored
    (§3.1).  Values become: C{bool} for boolean fields, a L{JID} for
    jid-single, a tuple of unique JIDs for jid-multi (§3.3: duplicates are
    ignored), a tuple of strings for list-multi and text-multi, else a
    string (hidden fields included: one value).

    @param element: the C{<x xmlns='jabber:x:data'/>} element.
    @param fields: the module's L{Field}s (their types decide how values
        are read; the submitted types are ignored, §3.2).
    @param formType: the expected C{FORM_TYPE}; a submission naming
        another one is refused, one naming none is accepted.
    @param condition: the stanza error condition for invalid data; the
        wrapper protocol decides (XEP-0004 §4 suggests 'not-acceptable' for
        values, many protocols say 'bad-request').
    @return: a dict of var -> value.
    @raise StanzaError: with C{condition} and a text naming the problem.
    """
    def refuse(text):
        raise StanzaError(condition, text=text)

    try:
        form = Form.fromElement(element)
    except FormError as e:
        refuse("Invalid data form: %s" % (e,))
    if form.type != "submit":
        refuse("Expected a data form of type 'submit', got %r" % (form.type,))
    if formType is not None and form.formType is not None and form.formType != formType:
        refuse("Unexpected FORM_TYPE %r (expected %r)" % (form.formType, formType))
    result = {}
    for definition in fields:
        if definition.var is None or definition.kind == "fixed":
            continue
        submitted = form.field(definition.var)
        if submitted is None or not [v for v in submitted.values if v.strip()]:
            if definition.required:
                refuse("The field %r is required" % (definition.var,))
            if submitted is None:
                continue
        result[definition.var] = _read(definition, submitted.values, refuse)
    return result


def _read(definition, values, refuse):
    kind = definition.kind
    var = definition.var
    if kind not in _SUBMITTED_MULTI and len(values) > 1:
        refuse("The field %r takes one value, got %d" % (var, len(values)))
    value = values[0] if values else ""
    if kind == "boolean":
        if not values:
            return False
        flag = _BOOLEANS.get(value.strip())
        if flag is None:
            refuse("The field %r takes true or false, got %r" % (var, value))
        return flag
    if kind in ("list-single", "list-multi") and definition.options:
        allowed = {optionValue for _, optionValue in definition.options}
        for v in values:
            if v not in allowed:
                refuse("%r is not an option of the field %r" % (v, var))
    if kind == "jid-single":
        if not value.strip():
            return None
        return _jid(var, value, refuse)
    if kind == "jid-multi":
        jids = []
        for v in values:
            if not v.strip():
                continue
            jid = _jid(var, v, refuse)
            if jid not in jids:
                jids.append(jid)
        return tuple(jids)
    if kind in _SUBMITTED_MULTI:
        return tuple(values)
    return value


def _jid(var, text, refuse):
    try:
        return parseJID(text.strip())
    except InvalidJID as e:
        refuse("The field %r has an invalid JID %r: %s" % (var, text, e))
