"""
The in-process runner of a L{xmppframe.service.Service}: a feature module
that routes the service's domain to it inside the server, with no socket.

L{serviceModule} makes the module class; listed in a host's C{modules}
(through a module plugin in the service's own package's
C{twisted/plugins/}), it builds the service on the domain its options name
and routes that domain to an L{InProcessSession}.  The service itself does
not know it runs in process: the same class connects to any server over
XEP-0114 with the component client.
"""

from copy import deepcopy

from zope.interface import implementer

from xmppframe.api import Module, ModuleOption
from xmppframe.interfaces import ISession
from xmppframe.jid import InvalidJID, makeJID

__all__ = ["InProcessSession", "serviceModule"]


def _domainOf(jids, text):
    try:
        return jids.parse(text).domain
    except (InvalidJID, TypeError):
        return None


@implementer(ISession)
class InProcessSession:
    """
    The router's side of an in-process service: what the domain is routed
    to (L{xmppframe.router.Router.addRoute}).  Stanzas reach the service
    one reactor turn later, copied, as if over a connection, so that a
    service answering at once never re-enters the router mid-dispatch.
    """

    kind = "component"
    host = None

    def __init__(self, service, router, reactor):
        self.service = service
        self.router = router
        self.reactor = reactor
        self.jid = makeJID(None, service.domain)
        self.closed = False

    def send(self, stanza):
        if not self.closed:
            self.reactor.callLater(0, self._deliver, deepcopy(stanza))

    def _deliver(self, stanza):
        if not self.closed:
            self.service.receive(stanza)

    def fromService(self, stanza):
        """
        The service's sender: check C{from} as a component stream does
        (XEP-0114 §3), then route.
        """
        if self.closed:
            return
        if _domainOf(self.router.jids, stanza.get("from")) != self.service.domain:
            raise ValueError("stanzas must come from %s" % (self.service.domain,))
        if stanza.get("to") is None:
            raise ValueError("stanzas from a service need a 'to'")
        self.router.route(stanza)

    def close(self, condition=None, text=None):
        self.closed = True


class _ServiceModule(Module):
    """
    Runs L{serviceClass} in process on the domain its options name.
    """

    serviceClass = None

    def load(self):
        api = self.api
        domain = api.options.get("domain") or "%s.%s" % (
            self.serviceClass.subdomain or self.serviceClass.name, api.host.name)
        try:
            domain = makeJID(None, domain).domain
        except InvalidJID as e:
            raise ValueError("%s: bad domain %r: %s" % (self.name, domain, e))
        options = {k: v for k, v in api.options.items() if k != "domain"}
        self.service = self.serviceClass(domain, api.reactor, options)
        self.session = InProcessSession(self.service, api.router, api.reactor)
        api.router.addRoute(domain, self.session)
        api.addDiscoItem(domain, self.serviceClass.name)
        self.service.attach(self.session.fromService)

    def unload(self):
        self.session.close()
        self.api.router.removeRoute(self.service.domain, self.session)
        self.service.detach()
        Module.unload(self)


def serviceModule(serviceClass):
    """
    A feature module class that runs C{serviceClass} in process: name the
    result in a module plugin (L{xmppframe.moduleloader.ModulePlugin}).  Its
    options are the service's L{xmppframe.service.Service.optionSchema}
    plus C{domain} (the service's domain; C{"<subdomain>.<host>"} when
    empty).
    """
    schema = {"domain": ModuleOption(
        "string", "", help="the service's domain; empty means <subdomain>.<host>")}
    schema.update(serviceClass.optionSchema)
    return type(serviceClass.__name__ + "Module", (_ServiceModule,), {
        "name": serviceClass.name, "serviceClass": serviceClass, "optionSchema": schema,
        "summary": serviceClass.summary, "xeps": tuple(serviceClass.xeps),
        "__doc__": "Runs L{%s} in process." % (serviceClass.__name__,),
        "__module__": serviceClass.__module__,
    })
