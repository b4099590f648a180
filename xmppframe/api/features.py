"""
Stream features a module can offer on client streams.
"""

from xmppframe.xml.stanza import makeElement


class InformativeFeature:
    """
    A stream feature that is advertised and never negotiated: one empty
    element offered with the features after authentication, until a
    resource is bound, handling no elements (e.g. roster versioning,
    RFC 6121 §2.6.1, or pre-approval, §3.4).  Subclasses name the element
    with L{NAMESPACE} and L{LOCAL}; add one with
    L{ModuleAPI.addStreamResponder}.
    """

    NAMESPACE = None
    LOCAL = None

    def offerKey(self, stream):
        """
        Whether it is offered: all its offer depends on.
        """
        return (stream.authenticated is not None and stream.jid is not None
                and stream.jid.resource is None)

    def offer(self, stream):
        if not self.offerKey(stream):
            return []
        return [makeElement(self.NAMESPACE, self.LOCAL)]

    def handlers(self, stream):
        return {}
