"""
Stream and stanza errors as exceptions (RFC 6120 §4.9 and §8.3).

Code anywhere below the stream raises these; the stream turns a
L{StreamError} into a stream error and closes, and the router turns a
L{StanzaError} into an error reply to the sender.  Conditions are checked
against the RFC's lists so that a typo fails at once, not on the wire.
"""

#: RFC 6120 §4.9.3 defined stream error conditions.
STREAM_CONDITIONS = frozenset("""
bad-format bad-namespace-prefix conflict connection-timeout host-gone
host-unknown improper-addressing internal-server-error invalid-from
invalid-namespace invalid-xml not-authorized not-well-formed
policy-violation remote-connection-failed reset resource-constraint
restricted-xml see-other-host system-shutdown undefined-condition
unsupported-encoding unsupported-feature unsupported-stanza-type
unsupported-version
""".split())

#: RFC 6120 §8.3.3 defined stanza error conditions, with the error type
#: the RFC gives in each condition's example, used when the raiser names
#: none.
STANZA_CONDITIONS = {
    "bad-request": "modify",
    "conflict": "cancel",
    "feature-not-implemented": "cancel",
    "forbidden": "auth",
    "gone": "cancel",
    "internal-server-error": "cancel",
    "item-not-found": "cancel",
    "jid-malformed": "modify",
    "not-acceptable": "modify",
    "not-allowed": "cancel",
    "not-authorized": "auth",
    "policy-violation": "modify",
    "recipient-unavailable": "wait",
    "redirect": "modify",
    "registration-required": "auth",
    "remote-server-not-found": "cancel",
    "remote-server-timeout": "wait",
    "resource-constraint": "wait",
    "service-unavailable": "cancel",
    "subscription-required": "auth",
    "undefined-condition": "cancel",
    "unexpected-request": "wait",
}

STANZA_ERROR_TYPES = frozenset({"auth", "cancel", "continue", "modify", "wait"})


class StreamError(Exception):
    """
    An error that ends the whole stream (RFC 6120 §4.9).

    @ivar condition: one of L{STREAM_CONDITIONS}.
    @ivar text: optional human-readable text sent in the C{<text/>} child.
    """

    def __init__(self, condition, text=None):
        if condition not in STREAM_CONDITIONS:
            raise ValueError("not a stream error condition: %r" % (condition,))
        Exception.__init__(self, condition, text)
        self.condition = condition
        self.text = text

    def __str__(self):
        return self.condition + (": " + self.text if self.text else "")


class StanzaError(Exception):
    """
    An error that answers one stanza (RFC 6120 §8.3).

    @ivar condition: one of L{STANZA_CONDITIONS}.
    @ivar type: the error type (§8.3.2); defaults to the RFC's usual type
        for the condition.
    @ivar text: optional human-readable text.
    @ivar appCondition: optional application-specific condition element.
    """

    def __init__(self, condition, type=None, text=None, appCondition=None):
        if condition not in STANZA_CONDITIONS:
            raise ValueError("not a stanza error condition: %r" % (condition,))
        if type is None:
            type = STANZA_CONDITIONS[condition]
        if type not in STANZA_ERROR_TYPES:
            raise ValueError("not a stanza error type: %r" % (type,))
        Exception.__init__(self, condition, type, text)
        self.condition = condition
        self.type = type
        self.text = text
        self.appCondition = appCondition

    def __str__(self):
        return self.condition + (": " + self.text if self.text else "")
