"""
Feature modules, and how they are found and loaded.

Modules are Twisted plugins providing L{IModuleFactory}: the built-in ones
are declared in C{twisted/plugins/xmppframe_plugin.py}, and a third-party
package adds its own by shipping a plugin file of its own.  A plugin names
its module class by dotted path and it is imported only when a host loads
it, so scanning the plugins stays cheap.
"""

from zope.interface import implementer

from twisted.plugin import IPlugin, getPlugins
from twisted.python.reflect import namedAny

from xmppframe.interfaces import IModuleFactory


@implementer(IPlugin, IModuleFactory)
class ModulePlugin:
    """
    A module factory declared by name, dependencies and the dotted path of
    its L{xmppframe.module.Module} subclass.
    """

    def __init__(self, name, dependencies, modulePath, description=""):
        self.name = name
        self.dependencies = tuple(dependencies)
        self.modulePath = modulePath
        self.description = description

    @property
    def moduleClass(self):
        return namedAny(self.modulePath)

    @property
    def optionSchema(self):
        """
        The module's options: name -> L{xmppframe.config.ModuleOption}.
        """
        return getattr(self.moduleClass, "optionSchema", {})

    def __call__(self, api):
        return self.moduleClass(api)


class ModuleLoadError(Exception):
    """
    A configured module is unknown, or its dependencies cannot be met.
    """


def availableModules():
    """
    @return: name -> L{IModuleFactory} for every installed module plugin.
    """
    import twisted.plugins
    return {factory.name: factory for factory in getPlugins(IModuleFactory, twisted.plugins)}


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
