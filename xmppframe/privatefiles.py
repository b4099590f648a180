"""
Files and directories that only the server's user may read: the database
and its WAL files (SCRAM keys, message archives), private keys, the data
directory.
"""

import os
import stat

__all__ = ["PRIVATE_FILE_MODE", "PRIVATE_DIRECTORY_MODE", "makePrivateDirectories",
           "createPrivateFile", "writePrivateFile", "tightenModes"]

#: The mode of a private file: read and write for its owner only.
PRIVATE_FILE_MODE = 0o600

#: The mode of a private directory.
PRIVATE_DIRECTORY_MODE = 0o700


def makePrivateDirectories(path):
    """
    Create the directory C{path} and every missing parent, each with mode
    L{PRIVATE_DIRECTORY_MODE} (L{os.makedirs} gives that mode to the last
    one only).  Directories that exist are left as they are.

    @raise OSError: if one cannot be created, or a parent is a file.
    """
    path = os.path.abspath(path)
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, PRIVATE_DIRECTORY_MODE)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise


def createPrivateFile(path):
    """
    Create C{path} as an empty file of mode L{PRIVATE_FILE_MODE}, unless it
    exists.

    @return: whether it was created.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def writePrivateFile(path, data):
    """
    Replace C{path} with a file of mode L{PRIVATE_FILE_MODE} holding
    C{data} (C{bytes}), atomically: it is written and synced under a
    temporary name in the same directory, then renamed, so that a crash
    leaves either the old file or the new one, never half of it.
    """
    temporary = "%s.%d.tmp" % (path, os.getpid())
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # in case a stale one was left
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def tightenModes(paths):
    """
    Take every permission of group and others off those of C{paths} that
    exist and have any.

    @return: a list of C{(path, oldMode)}, one for each file changed.
    """
    changed = []
    for path in paths:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            os.chmod(path, mode & ~0o077)
            changed.append((path, mode))
    return changed
