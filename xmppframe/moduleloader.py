"""
How feature modules are found and loaded.

Modules are Twisted plugins providing L{IModuleFactory}: the built-in ones
are declared in C{twisted/plugins/xmppframe_plugin.py}, and a third-party
package adds its own by shipping a plugin file of its own.  A plugin names
its module class by dotted path; everything else about the module is
declared on the class.
"""

from zope.interface import implementer

from twisted.logger import Logger
from twisted.plugin import IPlugin, getPlugins
from twisted.python.reflect import namedAny

from xmppframe.interfaces import IModuleFactory

_log = Logger()


@implementer(IPlugin, IModuleFactory)
class ModulePlugin:
    """
    A module factory for the L{xmppframe.api.Module} subclass at the dotted
    path C{modulePath}.

    The class declares everything about the module once (its C{name},
    C{summary}, C{dependencies}, C{xeps} and C{optionSchema}); this factory
    only points at it, so the plugin entry, C{xmppframe modules} and the
    config check cannot disagree.  The class is imported when the plugin
    is first asked about it.
    """

    def __init__(self, modulePath):
        self.modulePath = modulePath
        self._class = None

    @property
    def moduleClass(self):
        if self._class is None:
            self._class = namedAny(self.modulePath)
            if not self._class.name:
                raise ModuleLoadError("%s declares no module name" % (self.modulePath,))
        return self._class

    @property
    def name(self):
        return self.moduleClass.name

    @property
    def dependencies(self):
        return tuple(self.moduleClass.dependencies)

    @property
    def xeps(self):
        return tuple(self.moduleClass.xeps)

    @property
    def description(self):
        return self.moduleClass.summary

    @property
    def optionSchema(self):
        """
        The module's options: name -> L{xmppframe.api.ModuleOption}.
        """
        return self.moduleClass.optionSchema

    def __call__(self, api):
        return self.moduleClass(api)

    def __repr__(self):
        return "<ModulePlugin %s>" % (self.modulePath,)


class ModuleLoadError(Exception):
    """
    A configured module is unknown, or its dependencies cannot be met.
    """


def availableModules():
    """
    @return: name -> L{IModuleFactory} for every installed module plugin.
    """
    import twisted.plugins
    factories = {}
    for factory in getPlugins(IModuleFactory, twisted.plugins):
        try:
            name = factory.name
        except Exception as e:
            # A broken third-party plugin must not hide the others: say
            # which, and leave it out (a host that names it gets "unknown
            # module").
            _log.error("module plugin {plugin!r} cannot be loaded: {error}",
                       plugin=factory, error="%s: %s" % (type(e).__name__, e))
            continue
        factories[name] = factory
    return factories


def loadOrder(names, factories):
    """
    The modules to load for a host that asks for C{names}: those and their
    dependencies, each after what it depends on.

    @raise ModuleLoadError: for an unknown module or a dependency cycle.
    """
    order = []
    visiting = set()

    def visit(name, wantedBy):
        if name in order:
            return
        if name in visiting:
            raise ModuleLoadError("module dependency cycle through %r" % (name,))
        factory = factories.get(name)
        if factory is None:
            raise ModuleLoadError("unknown module %r%s" % (
                name, " (needed by %r)" % (wantedBy,) if wantedBy else ""))
        visiting.add(name)
        for dependency in factory.dependencies:
            visit(dependency, name)
        visiting.discard(name)
        order.append(name)

    for name in names:
        visit(name, None)
    return order
