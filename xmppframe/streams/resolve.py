"""
Finding where a remote XMPP domain's server listens (RFC 6120 §3.2,
XEP-0368).

The order: SRV records of C{_xmpps-server._tcp} (Direct TLS) and
C{_xmpp-server._tcp} (STARTTLS), merged and sorted by priority and then
chosen by weight (RFC 2782); a single SRV record with target C{.} means
the service is decidedly not available there.  Without SRV records, the
domain itself on port 5269 (§3.2.2, the "fallback process").  Address
records are left to the connecting endpoint (which looks up A and AAAA).
"""

import random
from dataclasses import dataclass

from twisted.internet import defer
from twisted.names import dns, error

__all__ = ["Target", "resolveServer", "orderSRV", "splitRoute", "DEFAULT_PORT"]

DEFAULT_PORT = 5269
_SERVICES = (("_xmpps-server._tcp.", True), ("_xmpp-server._tcp.", False))
_DIRECT_TLS_PREFIX = "tls:"


@dataclass(frozen=True)
class Target:
    """
    One place to try: C{host}, C{port}, and whether TLS starts at once.
    """
    host: str
    port: int
    directTLS: bool = False


def orderSRV(records, rng=random):
    """
    Order SRV records as RFC 2782 says: lowest priority first; within a
    priority, a weighted random choice, repeated until none are left.

    @param records: C{(priority, weight, item)} tuples.
    @return: the items in the order to try.
    """
    ordered = []
    byPriority = {}
    for priority, weight, item in records:
        byPriority.setdefault(priority, []).append((weight, item))
    for priority in sorted(byPriority):
        group = sorted(byPriority[priority], key=lambda entry: entry[0])
        while group:
            total = sum(weight for weight, _ in group)
            pick = rng.uniform(0, total) if total else 0
            running = 0
            for index, (weight, item) in enumerate(group):
                running += weight
                if running >= pick:
                    break
            ordered.append(group.pop(index)[1])
    return ordered


async def _lookup(resolver, name):
    """
    The SRV records at C{name}, as C{(priority, weight, target, port)};
    empty when there are none or the lookup failed.
    """
    try:
        answers, _, _ = await resolver.lookupService(name)
    except (error.DomainError, error.AuthoritativeDomainError, error.DNSNameError,
            error.DNSServerError, error.DNSQueryRefusedError, error.DNSFormatError,
            error.DNSNotImplementedError, error.DNSUnknownError, defer.TimeoutError):
        return []
    records = []
    for answer in answers:
        if answer.type != dns.SRV:
            continue
        payload = answer.payload
        records.append((payload.priority, payload.weight, str(payload.target), payload.port))
    return records


async def _resolve(domain, resolver, rng):
    ascii = domain.encode("idna").decode("ascii") if not domain.isascii() else domain
    candidates = []
    unavailable = 0
    for prefix, directTLS in _SERVICES:
        records = await _lookup(resolver, prefix + ascii)
        if len(records) == 1 and records[0][2] in ("", "."):
            unavailable += 1
            continue
        for priority, weight, target, port in records:
            candidates.append((priority, weight, Target(target.rstrip("."), port, directTLS)))
    if candidates:
        return orderSRV(candidates, rng)
    if unavailable == len(_SERVICES):
        return []
    return [Target(ascii, DEFAULT_PORT, False)]


def resolveServer(domain, resolver=None, rng=random):
    """
    Where to connect for the XMPP server of C{domain}.

    @param resolver: a L{twisted.internet.interfaces.IResolver}; Twisted's
        system resolver (C{twisted.names.client}) by default.
    @return: a Deferred firing with a list of L{Target}s, best first; empty
        when the domain says it has no XMPP service.
    """
    if resolver is None:
        from twisted.names import client
        resolver = client.getResolver()
    return defer.ensureDeferred(_resolve(domain, resolver, rng))


def splitRoute(description):
    """
    Read a static route (C{[s2s.routes]}): a Twisted client endpoint
    description for a plain connection, where STARTTLS follows, or the
    same with C{tls:} in place of C{tcp:} for Direct TLS (XEP-0368), as
    an C{_xmpps-server} SRV record would say.

    Twisted has a C{tls:} endpoint of its own, but its certificate checks
    are not the ones s2s needs (RFC 6120 §13.7.2: a peer's certificate
    decides between SASL EXTERNAL and dialback, it does not break the
    connection; our host's certificate goes along as client certificate),
    so a C{tls:} route is a TCP connection with our TLS on top.

    @param description: e.g. C{"tcp:host=192.0.2.1:port=5269"} or
        C{"tls:host=192.0.2.1:port=5270"}.
    @return: C{(description, directTLS)}, the description being one to
        pass to C{clientFromString} for the underlying connection.
    """
    if description[:len(_DIRECT_TLS_PREFIX)].lower() == _DIRECT_TLS_PREFIX:
        return "tcp:" + description[len(_DIRECT_TLS_PREFIX):], True
    return description, False
