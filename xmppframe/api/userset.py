"""
Which users of a store have anything in it, known without reading it.

Several modules read a per-user store at every login (stored offline
messages, pending subscription requests) though nearly every user has
nothing there.  A module that owns such a store reads the list of users
with data once, when it loads (C{users()} of L{IMapStore} or
L{IArchiveStore}), and then keeps it current itself, since every write to
its store is its own; a login of anyone else skips the read.
"""

__all__ = ["UsersWithData"]


class UsersWithData:
    """
    The users that may have data in one store: every user who has some is
    in it (it may also hold users whose data has gone).

    The owner calls L{stored} after writing for a user and L{emptied} when
    a read found nothing, both from the work it runs one at a time per
    user, so that no write can fall between the read and L{emptied}.

    @param store: the store; its C{users()} is called now.
    @param log: a L{twisted.logger.Logger} for a failure to list them.
    """

    def __init__(self, store, log):
        # None until the list is read: meanwhile every user may have data,
        # and users written for are noted in _storedWhileReading.
        self._users = None
        self._storedWhileReading = set()
        self._log = log
        store.users().addCallbacks(self._read, self._unread)

    def _read(self, users):
        self._users = set(users) | self._storedWhileReading
        self._storedWhileReading = set()

    def _unread(self, failure):
        # Not fatal: the owner reads for every user, as without the list.
        self._log.failure("Could not list the users with data in a store", failure)

    def mayHave(self, user):
        """
        Whether C{user} may have data (C{False}: certainly none).
        """
        users = self._users
        return users is None or user in users

    def stored(self, user):
        """
        Data was written for C{user}.
        """
        if self._users is not None:
            self._users.add(user)
        else:
            self._storedWhileReading.add(user)

    def emptied(self, user):
        """
        C{user} has no data left (a read found none, or it was cleared).
        """
        if self._users is not None:
            self._users.discard(user)
