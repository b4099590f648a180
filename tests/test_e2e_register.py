"""
End-to-end in-band registration (XEP-0077) with slixmpp: a new user creates
an account over STARTTLS and logs in with it, changes its password, and
removes the account.
"""

import asyncio

from tests.e2e import ClientTestCase, RunningServer, asDeferred, waitFor
from tests.xmppclient import TestClient


class Registrant(TestClient):
    """
    A slixmpp client that registers its own JID and password in band
    before logging in, as slixmpp's registration example does.
    """

    def __init__(self, *args, **kwargs):
        TestClient.__init__(self, *args, **kwargs)
        self.register_plugin("xep_0004")
        self.register_plugin("xep_0077")
        self.plugin["xep_0077"].force_registration = True
        self.add_event_handler("register", self._register)

    async def _register(self, form):
        iq = self.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = self.boundjid.user
        iq["register"]["password"] = self.password
        await iq.send()


class InBandRegistrationTests(ClientTestCase):

    accounts = ()
    moduleOptions = {"register": {"open": True, "min_interval": 0.0}}

    def test_registerThenLogIn(self):
        """
        XEP-0077 §3.1: the account is created before authentication and
        the same connection then logs in with it.
        """
        async def scenario():
            newbie = self.track(Registrant("newbie@localhost/web", "correct horse", self.server))
            await newbie.login()
            self.assertEqual(str(newbie.boundjid), "newbie@localhost/web")
            auth = self.server.server.hosts["localhost"].auth
            self.assertTrue(await waitFor(auth.userExists("newbie")))
        return asDeferred(scenario())

    def test_changePasswordAndRemove(self):
        """
        XEP-0077 §3.3 and §3.2: a logged-in user changes its password, then
        removes its account and is disconnected with not-authorized.
        """
        async def scenario():
            await self.server.addUser("alice@localhost", "wonderland")
            alice = self.track(TestClient("alice@localhost/home", "wonderland", self.server))
            alice.register_plugin("xep_0077")
            await alice.login()
            await alice.plugin["xep_0077"].change_password("looking-glass")
            auth = self.server.server.hosts["localhost"].auth
            self.assertTrue(await waitFor(auth.checkPassword("alice", "looking-glass")))
            self.assertFalse(await waitFor(auth.checkPassword("alice", "wonderland")))
            await alice.plugin["xep_0077"].cancel_registration()
            error = await alice.nextStreamError()
            self.assertEqual(error["condition"], "not-authorized")
            self.assertFalse(await waitFor(auth.userExists("alice")))
        return asDeferred(scenario())

    def test_closedByDefault(self):
        """
        Without `open = true` no account can be created in band.
        """
        async def scenario():
            server = await RunningServer.start(self)
            hopeful = self.track(Registrant("hopeful@localhost", "correct horse", server))
            hopeful.connect("127.0.0.1", server.port)
            failure = await asyncio.wait_for(hopeful.authFailures.get(), 10)
            self.assertIsNotNone(failure)
            self.assertFalse(await waitFor(server.server.hosts["localhost"].auth.userExists("hopeful")))
        return asDeferred(scenario())
