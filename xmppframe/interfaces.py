"""
Every zope interface of xmppframe, in one place.

These are the boundaries between components: the router, the session
manager, virtual hosts, modules, storage and authentication.  An
implementation is checked against its interface with C{verifyObject} in the
tests.  Methods that may have to wait (storage, the network) return
Deferreds; methods on the per-stanza path return plain values.
"""

from zope.interface import Attribute, Interface


class ISession(Interface):
    """
    One party the router can deliver stanzas to: a client session, a
    server-to-server stream, a component's stream, or an in-process
    service.
    """

    kind = Attribute(
        "C{'c2s'}, C{'s2s-in'}, C{'s2s-out'} or C{'component'}: modules that "
        "treat the user's own clients apart from everything else (privacy "
        "lists, carbons, pings) tell them by C{kind == 'c2s'}."
    )
    jid = Attribute(
        "The L{xmppframe.jid.JID} this session speaks for: the full JID of a "
        "bound client, the domain of a server or component; C{None} before "
        "that is known."
    )
    host = Attribute(
        "The L{IVirtualHost} this session belongs to, or C{None} (a component "
        "or an in-process service belongs to no host): the session manager "
        "fires the session's events on its bus."
    )

    def send(stanza):
        """
        Queue C{stanza} (an lxml element) for writing to the peer.  Never
        blocks and never raises for a closed session (the stanza is dropped
        and logged at debug level).
        """

    def close(condition=None, text=None):
        """
        End the session, with a stream error of C{condition} if given.
        """


class IClientSession(ISession):
    """
    A bound client session (RFC 6120 §7), with the presence state the
    router needs for bare-JID delivery (RFC 6121 §8.5), and what modules
    need to look after the client's connection.
    """

    available = Attribute(
        "C{True} once the client has sent initial presence and until it "
        "sends unavailable presence (RFC 6121 §4.2, §4.5): the router "
        "delivers to the bare JID only among available sessions, and keeps "
        "it up to date from the client's broadcast presence."
    )
    priority = Attribute(
        "The priority of its last available presence, an int: the router "
        "picks the highest for messages to the bare JID (RFC 6121 §8.5.2)."
    )
    interested = Attribute(
        "C{True} once the client has requested its roster "
        "(an 'interested resource', RFC 6121 §2.1.6): roster pushes go only "
        "to these."
    )
    presence = Attribute(
        "The last presence stanza the client broadcast (no 'to'), an lxml "
        "element with 'from' stamped, or C{None}: what probes are answered "
        "with (RFC 6121 §4.3.2).  Set by the router."
    )
    directedPresence = Attribute(
        "A set of the JIDs the client sent directed available presence to "
        "(RFC 6121 §4.6), to be told when it goes unavailable."
    )
    closing = Attribute(
        "C{True} once the session has started to close (a stream error, the "
        "client's closing tag, a lost connection): nothing more is read "
        "from or sent to it, so a module does not start anything with it "
        "(the ping module does not ping it)."
    )
    lastActivity = Attribute(
        "When data last arrived from the client, in the reactor's seconds, "
        "or C{None} when the session cannot tell: what liveness checks such "
        "as the server's pings (XEP-0199 §4.1) go by, so that a busy client "
        "is not pinged."
    )
    sendFilters = Attribute(
        "A list of callables C{f(session, stanza)}, consulted in order for "
        "every stanza L{send} (or L{sendSerialized}) is given; one that "
        "returns C{True} has taken the stanza, to send it later through "
        "L{send} or never.  Modules add and remove their own: XEP-0352 "
        "client state indication holds presence back while the client is "
        "inactive."
    )
    replaced = Attribute(
        "C{False} until the session manager replaces the session by a newer "
        "one that bound the same full JID (RFC 6120 §7.7.2.2): it then sets "
        "it to C{True} before closing the session with C{conflict}."
    )

    def sendSerialized(data):
        """
        Queue an already serialized stanza (UTF-8 bytes in C{jabber:client},
        the default namespace declared) as L{send} queues an element: a
        module that writes the same stanza to several sessions (carbons)
        serializes it once.  The send filters see it as an
        element all the same.
        """


class INegotiatingStream(Interface):
    """
    A client stream as the stream feature responders see it before and
    during negotiation (RFC 6120 §4.3): what a module's responder
    (L{xmppframe.api.ModuleAPI.addStreamResponder}: registration,
    roster versioning, client state indication) may read of the stream and
    write to it.  Once bound, the same stream is the client's
    L{IClientSession}.
    """

    host = Attribute(
        "The L{IVirtualHost} the stream header named, or C{None} before the "
        "header: a host's responders offer its own features."
    )
    authenticated = Attribute(
        "The SASL-authenticated username, or C{None}: some features are "
        "offered only before authentication (in-band registration), some "
        "only after (client state indication)."
    )
    encrypted = Attribute("Whether TLS is in place (STARTTLS done, or Direct TLS).")
    requireEncryption = Attribute(
        "Whether the server requires TLS before authentication: a feature "
        "that carries credentials is not offered in the clear then."
    )
    peerHost = Attribute(
        "The peer's address, for log lines and for limits per address "
        "(registrations from one address)."
    )
    closing = Attribute("Whether the stream is closing or closed: nothing more is sent.")

    def sendElement(element):
        """
        Write a negotiation element (an lxml element) now, after what is
        queued: an answer to an element a responder handles.
        """

    def close(condition=None, text=None):
        """
        Close the stream, with a stream error of C{condition} if given.
        """


class ISessionManager(Interface):
    """
    The local client sessions of all hosts, by JID.  The only place where
    sessions are looked up: modules never keep session tables of their own.
    """

    def bind(session, resource):
        """
        Bind C{session} to C{resource} (a prepared resourcepart, or C{None}
        to have one generated).  A session that already has the resulting
        full JID is closed with a C{conflict} stream error and replaced
        (RFC 6120 §7.7.2.2).

        @return: the full L{JID} bound.
        """

    def unbind(session):
        """
        Forget C{session}; nothing happens if it is not bound.
        """

    def sessionFor(fullJID):
        """
        @return: the bound session of C{fullJID}, or C{None}.
        """

    def sessionsFor(bareJID):
        """
        @return: a sequence (a tuple, not to be changed) of the bound
            sessions of the account C{bareJID}, in bind order.
        """

    def knownJID(text):
        """
        @return: the prepared L{JID} whose text is exactly C{text} if it is
            the full JID of a bound session or the bare JID of an account
            with one, else C{None}.  The router looks addresses up here
            before preparing them (RFC 7622), since most stanzas are
            addressed to a bound session or its account.
        """

    def allSessions():
        """
        @return: an iterable of every bound session.
        """


class IEventBus(Interface):
    """
    Named events with prioritised handlers: the first handler to return
    something other than C{None} claims the event and stops the rest.
    Event names come from the helpers in L{xmppframe.events}, never typed
    by hand.
    """

    def hook(name, handler, priority=0):
        """
        Call C{handler(event)} when C{name} fires; higher priorities run
        first.  @return: an object whose C{cancel()} removes the hook.
        """

    def fire(name, event):
        """
        @return: the first non-C{None} handler result, or C{None}.
        """

    def fireAll(name, event):
        """
        Call every handler of C{name}; results are ignored.
        """

    def fireAllAndWait(name, event):
        """
        Call every handler of C{name} and wait for those that return a
        Deferred.  @return: a Deferred firing with the list of
        C{(handler, Failure)} of the handlers that failed; it never fails.
        """

    def hasHandlers(name):
        """
        @return: whether anything is hooked to C{name}.
        """


class IVirtualHost(Interface):
    """
    One XMPP domain served by this process.
    """

    name = Attribute("The domain, a prepared C{str}.")
    jid = Attribute("The domain as a L{JID}.")
    events = Attribute("This host's L{IEventBus}.")
    config = Attribute("This host's L{xmppframe.config.HostConfig}.")
    modules = Attribute("A mapping of module name to loaded L{IModule}.")
    auth = Attribute("This host's L{IAuthProvider}.")

    def features():
        """
        @return: the set of disco features (RFC XEP-0030) of the loaded
            modules.
        """

    def identities():
        """
        @return: the list of C{(category, type, name)} disco identities.
        """


class IRouter(Interface):
    """
    Moves stanzas between sessions, hosts, and (later) remote servers.
    """

    def process(origin, stanza):
        """
        Handle a stanza that C{origin} (an L{ISession}) sent: check and
        stamp its addresses, then deliver it.  Errors go back to C{origin}
        as stanza errors.
        """

    def route(stanza, to=None, sender=None):
        """
        Deliver a stanza generated by the server itself (its C{from} is
        trusted as it stands).  C{to} and C{sender}, when given, are the
        prepared JIDs of its C{to} and C{from}, which the caller already
        has: they are not parsed again.
        """

    def addHost(host):
        """
        Serve L{IVirtualHost} C{host}.
        """

    def removeHost(name):
        """
        Stop serving domain C{name}.
        """

    def hostFor(domain):
        """
        @return: the L{IVirtualHost} for C{domain}, or C{None}.
        """


class IModule(Interface):
    """
    One feature, loaded into a virtual host.
    """

    name = Attribute("The module's name, as in the config.")

    def load():
        """
        Hook events and register features.  May return a Deferred.
        """

    def unload():
        """
        Undo C{load}.  May return a Deferred.
        """


class IModuleFactory(Interface):
    """
    A Twisted plugin that makes modules; the config names modules by
    C{name}.
    """

    name = Attribute("The module's name.")
    dependencies = Attribute("A tuple of names of modules this one needs.")
    optionSchema = Attribute(
        "The options the module takes from C{[hosts.NAME.options.MODULE]}: "
        "a dict of name -> L{xmppframe.config.ModuleOption}."
    )

    def __call__(api):
        """
        @param api: the L{xmppframe.api.module.ModuleAPI} of the host it is
            loaded into.
        @return: an L{IModule}.
        """


class IKeyValueStore(Interface):
    """
    Per-host, per-user values (JSON-serialisable) under one store name.
    """

    def get(user):
        """
        @return: Deferred firing with the value or C{None}.
        """

    def set(user, value):
        """
        Store C{value} durably (fires after the commit); C{None} deletes.
        """

    def delete(user):
        """
        Remove the value; fires with whether there was one.
        """

    def keys():
        """
        @return: Deferred firing with a sorted list of users with a value.
        """


class IMapStore(Interface):
    """
    Per-host, per-user maps of key to JSON-serialisable value.
    """

    def get(user, key):
        """
        @return: Deferred firing with the value or C{None}.
        """

    def set(user, key, value):
        """
        Store durably; C{None} deletes.
        """

    def delete(user, key):
        """
        Remove one key; fires with whether it was there.
        """

    def items(user):
        """
        @return: Deferred firing with a dict of every key and value.
        """

    def clear(user):
        """
        Remove every key of C{user}.
        """

    def users():
        """
        @return: Deferred firing with the sorted list of users that have at
            least one key (see L{IArchiveStore.users}).
        """


class IArchiveStore(Interface):
    """
    Per-host, per-user ordered logs of stanzas (offline messages, MAM).
    """

    def append(user, payload, with_=None, when=None):
        """
        Append C{payload} (bytes, usually a serialized stanza) durably.

        @param with_: the other party's bare JID as C{str}, for queries.
        @param when: POSIX time; now if C{None}.
        @return: Deferred firing with the new item's id (a C{str}, unique
            and increasing within the store).
        """

    def query(user, with_=None, start=None, end=None, after=None,
              before=None, limit=None, reverse=False):
        """
        @return: Deferred firing with a list of C{ArchiveItem(id, when,
            with_, payload)} in order (newest first if C{reverse}).
        """

    def count(user):
        """
        @return: Deferred firing with the number of items of C{user}.
        """

    def delete(user, ids=None):
        """
        Delete C{ids} of C{user}, or all of C{user}'s items if C{None}.
        """

    def users():
        """
        @return: Deferred firing with the list of users that have at least
            one item, sorted: a module that owns a store reads it once at
            start, to skip reading the store for users with nothing in it.
        """


class IStorage(Interface):
    """
    A storage driver.  Stores are opened by host and name; a driver keeps
    every store of every host.
    """

    def open():
        """
        Connect, create or migrate the schema.  @return: Deferred.
        """

    def close():
        """
        Flush and disconnect.  @return: Deferred.
        """

    def keyValue(host, name):
        """
        @return: the L{IKeyValueStore} C{name} of domain C{host}.
        """

    def map(host, name):
        """
        @return: the L{IMapStore} C{name} of domain C{host}.
        """

    def archive(host, name):
        """
        @return: the L{IArchiveStore} C{name} of domain C{host}.
        """


class IAuthProvider(Interface):
    """
    The accounts of one host and their credentials.  Passwords are never
    stored: only SCRAM salted keys (RFC 5802 §3).  Usernames are prepared
    localparts (RFC 7622 §3.3).
    """

    def userExists(username):
        """
        @return: Deferred firing with a C{bool}.
        """

    def createUser(username, password):
        """
        @raise UserExists: (in the Deferred) if the account exists.
        """

    def setPassword(username, password):
        """
        Replace the credentials.  @raise NoSuchUser: if absent.
        """

    def deleteUser(username):
        """
        @raise NoSuchUser: if absent.
        """

    def listUsers():
        """
        @return: Deferred firing with a sorted list of usernames.
        """

    def getScramCredentials(username, hashName):
        """
        @param hashName: C{'SHA-1'} or C{'SHA-256'}.
        @return: Deferred firing with a L{ScramCredentials} or C{None}.
        """

    def checkPassword(username, password):
        """
        Verify a password (for SASL PLAIN) against the stored SCRAM keys.
        @return: Deferred firing with a C{bool}.
        """


class IRoster(Interface):
    """
    The roster service (RFC 6121 §2) that the roster module offers to other
    modules (presence, blocking): the only way they read or change a roster.
    Users are prepared localparts; contacts are bare L{JID}s.
    """

    def getItem(user, contact):
        """
        @return: Deferred firing with the L{xmppframe.rosteritem.RosterItem}
            or C{None}.
        """

    def getItems(user):
        """
        @return: Deferred firing with a list of every RosterItem of C{user}.
        """

    def updateSubscription(user, contact, subscription=None, ask=None, approved=None):
        """
        Change only the given subscription fields of C{contact}'s item,
        creating the item (no name, no groups) if there is none; store it
        durably, bump the roster version, and push the item to the user's
        interested resources (RFC 6121 §2.1.6) when it changed.

        @return: Deferred firing with the new RosterItem.
        """

    def removeItem(user, contact):
        """
        Remove the item, store durably, bump the version, push the removal.

        @return: Deferred firing with whether there was an item.
        """


class IDisco(Interface):
    """
    Service discovery (XEP-0030) of a host, offered by the disco module to
    the modules that extend or hash what the server answers (entity
    capabilities, XEP-0115; publish-subscribe nodes).
    """

    def serverInfo(node=None):
        """
        @return: the server's disco#info C{<query/>} element, C{node}
            mirrored (XEP-0030 §3.2).
        """

    def infoForms():
        """
        @return: the extended information forms (XEP-0128) of the
            server's disco#info, as elements.
        """

    def addInfoForm(provider):
        """
        Add C{provider()}, returning a form element of type 'result' (or
        C{None}), to the server's disco#info.
        """

    def removeInfoForm(provider):
        """
        Undo L{addInfoForm}.
        """

    def addInfoNodeProvider(provider):
        """
        Answer disco#info for nodes of the server: C{provider(node)} returns
        the C{<query/>} for nodes it knows, C{None} for others.
        """

    def removeInfoNodeProvider(provider):
        """
        Undo L{addInfoNodeProvider}.
        """

    def addItemsNodeProvider(provider):
        """
        As L{addInfoNodeProvider}, for disco#items of nodes (XEP-0030 §4.2).
        """

    def removeItemsNodeProvider(provider):
        """
        Undo L{addItemsNodeProvider}.
        """


class ICaps(Interface):
    """
    Entity capabilities (XEP-0115) of a host's clients, offered by the caps
    module to the modules that act on what a client supports (PEP
    notifications, XEP-0163 §4).
    """

    def featuresOf(fullJID):
        """
        The features a local client's last broadcast presence advertised
        (a L{JID} or its text).  The server asks the client (§5.4) only
        now, when the answer is needed, and once per verification string
        however many clients advertise it.

        @return: Deferred firing with the set of feature C{var}s once
            verified, or C{None} when not known (no caps, or no client
            answered).
        """


class IPrivacy(Interface):
    """
    The blocklist (XEP-0191) on the privacy lists' store (XEP-0016), which
    the privacy module offers to the blocking command's module: XEP-0191 §6
    asks for one back end for both.  Users are prepared localparts; JIDs
    are L{JID}s.
    """

    def blocklist(user):
        """
        @return: Deferred firing with the list of blocked JIDs of C{user}.
        """

    def block(user, jids):
        """
        Block C{jids} for C{user}, push the changed list and send
        unavailable presence where due.

        @return: Deferred firing with the JIDs newly blocked.
        """

    def unblock(user, jids=None):
        """
        Remove C{jids} (every blocked JID with C{None}) from the blocklist.

        @return: Deferred firing with the JIDs unblocked.
        """
