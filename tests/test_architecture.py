"""
The module API is the only door: what holds the code to the shape
docs/architecture.md describes.
"""

import ast
import os
import sys

from twisted.internet import utils
from twisted.trial import unittest

import xmppframe
from xmppframe.api import Module
from xmppframe.moduleloader import availableModules

_ROOT = os.path.dirname(os.path.abspath(xmppframe.__file__))

#: What a feature module may import of xmppframe.
_ALLOWED = ("xmppframe.api", "xmppframe.xml", "xmppframe.errors")

#: The core that routes stanzas knows nothing of streams, config or assembly.
_CORE = ("router.py", "events.py", "session.py", "host.py", "service.py", "inprocess.py")
_NOT_IN_CORE = ("xmppframe.streams", "xmppframe.config", "xmppframe.server", "xmppframe.tap")


def _packageOf(path):
    """
    The dotted name of the package the file at C{path} is in, for files
    under xmppframe/.
    """
    relative = os.path.relpath(os.path.dirname(os.path.abspath(path)), os.path.dirname(_ROOT))
    return relative.replace(os.sep, ".")


def _imports(path, package=None):
    """
    The dotted names of everything the file at C{path} imports (at any
    depth: a function's import counts too).  Relative imports are made
    absolute from C{package} (by default the file's own package), so
    C{from ..roster import x} is seen for what it is.
    """
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    if package is None:
        package = _packageOf(path)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[:len(parts) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.append(module)
            names.extend(module + "." + alias.name for alias in node.names)
    return names


def _moduleFiles():
    base = os.path.join(_ROOT, "modules")
    for directory, _, files in os.walk(base):
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(directory, name)


def _within(name, prefixes):
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _ownPackage(path):
    """
    The package of a module that is a package (C{xmppframe.modules.privacy}
    for a file under C{modules/privacy/}), whose files may import each
    other; C{None} for a one-file module.
    """
    relative = os.path.relpath(os.path.dirname(path), os.path.join(_ROOT, "modules"))
    if relative == os.curdir:
        return None
    return "xmppframe.modules." + relative.split(os.sep)[0]


class ModuleImportTests(unittest.TestCase):

    def test_modulesImportOnlyTheAPI(self):
        """
        A feature module imports C{xmppframe.api}, C{xmppframe.xml} and
        C{xmppframe.errors}, and nothing else of xmppframe: not streams,
        config, storage drivers or another module.
        """
        leaks = []
        for path in _moduleFiles():
            own = _ownPackage(path)
            allowed = _ALLOWED + ((own,) if own else ())
            for name in _imports(path):
                if name == "xmppframe" or (name.startswith("xmppframe.")
                                           and not _within(name, allowed)):
                    leaks.append("%s imports %s" % (os.path.relpath(path, _ROOT), name))
        self.assertEqual(leaks, [])

    def test_coreImportsNoAssembly(self):
        """
        The routing core (router, events, sessions, hosts, the service base
        and its in-process runner) imports neither the streams nor the
        config parser nor the assembly.
        """
        leaks = []
        for name in _CORE:
            for imported in _imports(os.path.join(_ROOT, name)):
                if _within(imported, _NOT_IN_CORE):
                    leaks.append("%s imports %s" % (name, imported))
        self.assertEqual(leaks, [])

    def test_serviceLoadsNoAssembly(self):
        """
        Importing the service base in a fresh interpreter loads none of the
        streams, the config parser or the assembly, not even through another
        module: a service does not drag the server in.
        """
        code = ("import sys, xmppframe.service; print(' '.join("
                "name for name in sys.modules if name.startswith('xmppframe.')))")
        d = utils.getProcessOutputAndValue(sys.executable, ("-c", code), env=os.environ,
                                           path=os.path.dirname(_ROOT))

        def check(result):
            out, err, status = result
            self.assertEqual(status, 0, err)
            loaded = out.decode("ascii").split()
            self.assertIn("xmppframe.service", loaded)
            self.assertEqual(sorted(name for name in loaded if _within(name, _NOT_IN_CORE)), [])
        return d.addCallback(check)

    def test_checkerSeesRelativeImports(self):
        """
        A relative import out of a module package is seen as the absolute
        name it stands for.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("from ..roster import store\nfrom . import model\n")
        names = _imports(path, package="xmppframe.modules.privacy")
        self.assertIn("xmppframe.modules.roster.store", names)
        self.assertIn("xmppframe.modules.privacy.model", names)

    def test_checkerSeesLeaks(self):
        """
        The import check finds a leak in a function body as well.
        """
        path = self.mktemp()
        with open(path, "w") as f:
            f.write("def f():\n    from xmppframe.config import parseConfig\n")
        self.assertIn("xmppframe.config", _imports(path))

    def test_packageImportsItself(self):
        """
        A module that is a package may import its own files, and still no
        other module.
        """
        modules = os.path.join(_ROOT, "modules")
        own = _ownPackage(os.path.join(modules, "privacy", "filters.py"))
        self.assertEqual(own, "xmppframe.modules.privacy")
        self.assertTrue(_within("xmppframe.modules.privacy.model", (own,)))
        self.assertFalse(_within("xmppframe.modules.roster", (own,)))
        self.assertIsNone(_ownPackage(os.path.join(modules, "ping.py")))


class ModuleMetadataTests(unittest.TestCase):
    """
    What a module is is declared once, on its class; the plugin entry, the
    admin command and the config check read it from there.
    """

    def setUp(self):
        self.factories = availableModules()

    def test_everyBuiltInModuleDeclares(self):
        for name, factory in self.factories.items():
            moduleClass = factory.moduleClass
            if not moduleClass.__module__.startswith("xmppframe."):
                continue
            self.assertTrue(issubclass(moduleClass, Module), name)
            self.assertEqual(moduleClass.name, name)
            self.assertTrue(moduleClass.summary, "%s has no summary" % (name,))
            self.assertTrue(moduleClass.xeps, "%s names no specification" % (name,))
            for spec in moduleClass.xeps:
                self.assertRegex(spec, r"^(XEP-\d{4}|RFC \d{4}( §[\d.]+)?)$")
            for dependency in moduleClass.dependencies:
                self.assertIn(dependency, self.factories, "%s needs %s" % (name, dependency))

    def test_pluginDerivesFromClass(self):
        for name, factory in self.factories.items():
            moduleClass = factory.moduleClass
            self.assertEqual(factory.dependencies, tuple(moduleClass.dependencies))
            self.assertEqual(factory.xeps, tuple(moduleClass.xeps))
            self.assertIs(factory.optionSchema, moduleClass.optionSchema)

    def test_defaultsPassTheirChecks(self):
        """
        Every option's default is of its kind and passes its own check.
        """
        from xmppframe.config import parseConfig, validateModuleOptions
        for name, factory in self.factories.items():
            config = parseConfig({"hosts": {"example.org": {"modules": [name]}}}, ".")
            values = validateModuleOptions(config, "example.org", name, factory.optionSchema)
            self.assertEqual(set(values), set(factory.optionSchema), name)

    def test_privacyDependsOnRoster(self):
        self.assertIn("roster", self.factories["privacy"].dependencies)
