"""
"Answered" means "stored" (issue 15): a client that got an answer to a
stanza it sent after some messages may take those messages as stored.  The
real server (twistd, SQLite) is killed with SIGKILL right after such an
answer, again and again; every message it was sent before the answer must
be in offline storage and in both archives after the kill.
"""

import os
import sqlite3

from tests.e2e import asDeferred
from tests.test_acceptance import TwistdTestCase
from tests.xmppclient import TestClient

MESSAGES = 200
ROUNDS = 10


def counts(database, recipient):
    """
    What is stored for C{recipient}: offline messages, and archived
    messages in alice's and in the recipient's archive.
    """
    connection = sqlite3.connect(database)
    try:
        def count(store, user):
            return connection.execute(
                "SELECT COUNT(*) FROM archive WHERE host='localhost' AND store=? AND user=?",
                (store, user)).fetchone()[0]
        return count("offline", recipient), count("mam", "alice"), count("mam", recipient)
    finally:
        connection.close()


class KillAfterAnswerTests(TwistdTestCase):

    timeout = 300

    def test_nothingAnsweredIsLost(self):
        """
        200 chat messages to an offline account, then a ping: once the
        ping is answered, a SIGKILL loses none of them (XEP-0160 §3: stored
        for later delivery; XEP-0313: archived), in each of ten rounds (a
        new recipient each round, whose offline storage is not full).
        """
        database = os.path.join(self.directory, "data", "xmppframe.sqlite")

        async def scenario():
            result = self.server.admin("storage", "init")
            self.assertEqual(result.returncode, 0, result.stderr)
            accounts = ["alice"] + ["bob%d" % (round,) for round in range(ROUNDS)]
            for user in accounts:
                result = self.server.admin("user", "add", user + "@localhost",
                                           stdin="rabbithole\n")
                self.assertEqual(result.returncode, 0, result.stderr)
            sent = 0
            for round in range(ROUNDS):
                self.server.start()
                await self.server.waitUntilListening()
                recipient = "bob%d" % (round,)
                alice = TestClient("alice@localhost/desk", "rabbithole", self.server)
                await alice.login()
                for n in range(MESSAGES):
                    alice.send_message(mto=recipient + "@localhost", mbody="round %d, %d" % (round, n),
                                       mtype="chat")
                await alice.roundTrip()
                self.server.process.kill()
                self.server.process.wait(20)
                alice.abort()
                sent += MESSAGES
                self.assertEqual(counts(database, recipient), (MESSAGES, sent, MESSAGES),
                                 "round %d" % (round,))
            self.assertNotIn("Traceback", self.server.logText())

        return asDeferred(scenario())
