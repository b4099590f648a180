"""
End-to-end: Last Activity (XEP-0012) with real slixmpp clients (its
xep_0012 plugin) against the real server on loopback, loaded by default.
"""

import asyncio

from slixmpp.exceptions import IqError

from tests.e2e import ClientTestCase, asDeferred, waitFor


class LastActivityEndToEndTests(ClientTestCase):

    accounts = (("alice@localhost", "wonderland"), ("bob@localhost", "rabbithole"),
                ("carol@localhost", "lookingglass"))
    clientPlugins = ("xep_0012",)

    async def befriend(self):
        """
        A mutual subscription between alice and bob, written straight into
        both rosters.
        """
        roster = self.server.server.hosts["localhost"].modules["roster"]
        await waitFor(roster.updateSubscription("alice", "bob@localhost", "both"))
        await waitFor(roster.updateSubscription("bob", "alice@localhost", "both"))

    async def loggedOut(self, bare, timeout=10):
        """
        Wait until the server has no session of C{bare} left.
        """
        server = self.server.server
        jid = server.router.jids.parse(bare)
        for _ in range(int(timeout / 0.05)):
            if not server.sessions.sessionsFor(jid):
                return
            await asyncio.sleep(0.05)
        self.fail("%s is still logged in" % (bare,))

    def test_uptimeAndLastLogout(self):
        """
        XEP-0012 §5: alice asks the server's uptime.  §3: she asks about
        bob, her contact, while he is online ('0') and after he logged out
        with a status (the seconds since, and the status); carol, who is
        not subscribed to bob's presence, is forbidden.
        """
        async def scenario():
            await self.befriend()
            alice = await self.client("alice@localhost/home", "wonderland").login()
            uptime = await alice["xep_0012"].get_last_activity("localhost")
            self.assertEqual(str(uptime["from"]), "localhost")
            self.assertGreaterEqual(uptime["last_activity"]["seconds"], 0)
            self.assertLess(uptime["last_activity"]["seconds"], 60)
            self.assertFalse(uptime["last_activity"]["status"])

            bob = await self.client("bob@localhost/phone", "rabbithole").login()
            online = await alice["xep_0012"].get_last_activity("bob@localhost")
            self.assertEqual(online["last_activity"]["seconds"], 0)
            self.assertFalse(online["last_activity"]["status"])

            bob.send_presence(ptype="unavailable", pstatus="Off to tea")
            await bob.roundTrip()
            await bob.close()
            await self.loggedOut("bob@localhost")
            await asyncio.sleep(1.1)
            last = await alice["xep_0012"].get_last_activity("bob@localhost")
            self.assertEqual(str(last["from"]), "bob@localhost")
            self.assertGreaterEqual(last["last_activity"]["seconds"], 1)
            self.assertLess(last["last_activity"]["seconds"], 30)
            self.assertEqual(last["last_activity"]["status"], "Off to tea")

            carol = await self.client("carol@localhost/desk", "lookingglass").login()
            with self.assertRaises(IqError) as caught:
                await carol["xep_0012"].get_last_activity("bob@localhost")
            self.assertEqual(caught.exception.condition, "forbidden")
        return asDeferred(scenario())

    def test_advertised(self):
        """
        §6: the server and its accounts list jabber:iq:last in disco#info
        (an account's, to a contact who may see its presence, XEP-0030 §8).
        """
        async def scenario():
            await self.befriend()
            alice = await self.client("alice@localhost/home", "wonderland",
                                      ["xep_0030"]).login()
            for jid in ("localhost", "bob@localhost"):
                info = await alice["xep_0030"].get_info(jid)
                self.assertIn("jabber:iq:last", info["disco_info"]["features"])
        return asDeferred(scenario())
