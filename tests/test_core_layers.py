"""
The core does not depend on the layers built on it: the router, the event
bus, sessions, virtual hosts and the service base import nothing of the
streams, the configuration or the assembly (server, twistd, admin command).
"""

import ast
import os

from twisted.trial import unittest

import xmppframe

#: The core: what a stream, a module or a service is built on.
CORE = ("router.py", "events.py", "session.py", "host.py", "service.py")

#: What the core must not import.
ABOVE = ("xmppframe.streams", "xmppframe.config", "xmppframe.server", "xmppframe.tap",
         "xmppframe.cli")


def importedNames(path):
    """
    Every module name the file at C{path} imports, at any depth (imports
    inside functions count as well).
    """
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names.extend("%s.%s" % (node.module, alias.name) for alias in node.names)
    return names


def _within(name, package):
    return name == package or name.startswith(package + ".")


class CoreImportTests(unittest.TestCase):

    def test_coreImportsNothingAbove(self):
        directory = os.path.dirname(xmppframe.__file__)
        found = []
        for filename in CORE:
            for name in importedNames(os.path.join(directory, filename)):
                if any(_within(name, above) for above in ABOVE):
                    found.append("%s imports %s" % (filename, name))
        self.assertEqual(found, [])

    def test_importedNames(self):
        """
        The checker sees plain, dotted, from- and nested imports.
        """
        path = self.mktemp()
        with open(path, "w", encoding="utf-8") as f:
            f.write("import xmppframe.config\nfrom xmppframe import server\n"
                    "def f():\n    from xmppframe.streams.c2s import C2SFactory\n")
        names = importedNames(path)
        self.assertIn("xmppframe.config", names)
        self.assertIn("xmppframe.server", names)
        self.assertIn("xmppframe.streams.c2s", names)

    def test_serviceEntryPoint(self):
        """
        A service's author names the base and the in-process runner from
        L{xmppframe.service}; they are the runner module's own objects.
        """
        from xmppframe import inprocess, service
        self.assertIs(service.serviceModule, inprocess.serviceModule)
        self.assertIs(service.InProcessSession, inprocess.InProcessSession)
