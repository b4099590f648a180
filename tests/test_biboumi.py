"""
Interoperability with Debian's biboumi, a real XMPP <-> IRC gateway: it
connects to xmppframe as an external XEP-0114 component, a slixmpp user
sets the IRC server's port with biboumi's "configure" ad-hoc command
(XEP-0050; biboumi tries 6697 and 6670 by default), joins
#test%127.0.0.1@irc.localhost (XEP-0045 §7.2) and talks with a raw IRC
client on Debian's ngircd.
"""

import asyncio
import os

from twisted.trial import unittest

from tests.e2e import LOOPBACK, asDeferred, needProgram, requireAsyncioReactor
from tests.ircpeers import IRCPeer, spawn, startNgircd
from tests.test_e2e_component import startServer
from tests.test_irc_gateway import MUCClient, statusCodes

DOMAIN = "irc.localhost"
SECRET = "biboumi-s3cret"

BIBOUMI_CONFIG = """\
hostname={domain}
password={secret}
xmpp_server_ip=127.0.0.1
port={port}
db_name={dir}/biboumi.sqlite
policy_directory={dir}
identd_port=0
realname_customization=true
log_level=1
"""


class BiboumiTests(unittest.TestCase):

    timeout = 60

    def setUp(self):
        requireAsyncioReactor()
        self.biboumi = needProgram("biboumi")
        needProgram("ngircd")

    async def startBiboumi(self, server):
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        config = os.path.join(directory, "biboumi.cfg")
        with open(config, "w") as f:
            f.write(BIBOUMI_CONFIG.format(domain=DOMAIN, secret=SECRET, dir=directory,
                                          port=server.service.port("component")))
        process = spawn(self, self.biboumi, [config], directory, "biboumi")
        components = server.server.components
        loop = asyncio.get_event_loop()
        deadline = loop.time() + 10
        while components.connected(DOMAIN) is None:
            if process.ended.called or loop.time() > deadline:
                self.fail("biboumi did not connect: %s" % (
                    b"".join(process.output).decode("utf-8", "replace"),))
            await asyncio.sleep(0.05)
        return process

    def test_joinAndTalk(self):
        return asDeferred(self._joinAndTalk())

    async def _joinAndTalk(self):
        ircPort = await startNgircd(self)
        server = await startServer(self, {"components": {
            "listen": [LOOPBACK], "secrets": {DOMAIN: SECRET}}})
        await self.startBiboumi(server)
        await server.addUser("alice@localhost", "secret-pw")
        alice = MUCClient("alice@localhost/phone", "secret-pw", server)
        alice.register_plugin("xep_0050")
        alice.register_plugin("xep_0004")
        self.addCleanup(lambda: asDeferred(alice.close()))
        await alice.login()

        info = await alice.plugin["xep_0030"].get_info(jid=DOMAIN, timeout=10)
        categories = {c for c, _, _, _ in info["disco_info"]["identities"]}
        self.assertIn("conference", categories)

        # Point biboumi at ngircd's port, without TLS.
        ircServer = "127.0.0.1@" + DOMAIN
        adhoc = alice.plugin["xep_0050"]
        first = await adhoc.send_command(ircServer, "configure", timeout=10)
        session = first["command"]["sessionid"]
        form = first["command"]["form"]
        fields = form.get_fields()
        self.assertIn("ports", fields)
        answer = alice.plugin["xep_0004"].make_form(ftype="submit")
        answer.add_field(var="ports", ftype="text-multi", value=[str(ircPort)])
        if "tls_ports" in fields:
            answer.add_field(var="tls_ports", ftype="text-multi", value=[])
        iq = alice.make_iq_set(ito=ircServer)
        iq["command"]["node"] = "configure"
        iq["command"]["sessionid"] = session
        iq["command"]["action"] = "complete"
        iq["command"].append(answer)
        done = await iq.send(timeout=10)
        self.assertEqual(done["command"]["status"], "completed")

        bob = await IRCPeer.connect(self, "127.0.0.1", ircPort, "bob")
        await bob.join("#test")
        room = "#test%127.0.0.1@" + DOMAIN
        alice.joinRoom(room + "/alice")
        own = await alice.presenceFrom(room + "/alice", timeout=20)
        self.assertIn("110", statusCodes(own))
        await bob.expect(lambda m: m.command == "JOIN" and m.nick == "alice")

        alice.send_message(room, "hello from xmppframe", mtype="groupchat")
        line = await bob.expect(lambda m: m.command == "PRIVMSG")
        self.assertEqual((line.nick, line.params), ("alice", ["#test", "hello from xmppframe"]))
        bob.send("PRIVMSG #test :hello from ngircd")
        while True:
            message = await alice.nextMessage()
            if message["body"] == "hello from ngircd":
                break
        self.assertEqual((str(message["from"]), message["type"]),
                         (room + "/bob", "groupchat"))

        # Private messages both ways (biboumi's nick%server addresses).
        alice.send_message("bob%127.0.0.1@" + DOMAIN, "psst", mtype="chat")
        line = await bob.expect(lambda m: m.command == "PRIVMSG")
        self.assertEqual((line.nick, line.params), ("alice", ["bob", "psst"]))
        bob.send("PRIVMSG alice :psst yourself")
        while True:
            message = await alice.nextMessage()
            if message["body"] == "psst yourself":
                break
        self.assertEqual(str(message["from"]).partition("/")[0].lower(),
                         "bob%127.0.0.1@" + DOMAIN)

        alice.send_presence(pto=room + "/alice", ptype="unavailable")
        await bob.expect(lambda m: m.command in ("PART", "QUIT") and m.nick == "alice")
