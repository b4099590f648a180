"""
Software Version (XEP-0092): the server says which software it runs.

Queries addressed to the server's domain are answered with the name
C{xmppframe} and its version (XEP-0092 §2: both REQUIRED).  The operating
system is OPTIONAL (§2) and revealing it "may open the user or system to
attacks directed against that operating system" (§6), which is why an
administrator "MUST" be able to turn it off: here it is off unless the
C{show_os} option is true.

Queries to an account's JID are the account's clients' to answer (XEP-0092
§1 note), so only the host target is hooked.
"""

import platform

from xmppframe.api import SERVER_VERSION, Module, ModuleOption
from xmppframe.xml import namespaces as NS
from xmppframe.xml.stanza import makeElement

__all__ = ["VersionModule", "SOFTWARE_NAME", "operatingSystem"]

#: The natural-language name of the software (XEP-0092 §2).
SOFTWARE_NAME = "xmppframe"


def operatingSystem():
    """
    The operating system as C{<os/>} tells it: its name and release,
    e.g. C{Linux 6.1.0}.
    """
    return " ".join(part for part in (platform.system(), platform.release()) if part)


class VersionModule(Module):
    """
    Answers C{jabber:iq:version} queries to the server (XEP-0092).
    """

    name = "version"
    summary = "the server's software name and version"
    xeps = ("XEP-0092",)
    optionSchema = {
        "show_os": ModuleOption(
            "boolean", False,
            help="Include the operating system in the answer (XEP-0092 §6: "
                 "off by default, it helps attackers)."),
    }

    def load(self):
        self.showOS = self.api.options["show_os"]
        # XEP-0092 §2: the namespace, also the disco feature (§3).
        self.api.addFeature(NS.VERSION)
        self.api.hookIQ("get", "host", (NS.VERSION, "query"), self.answer)

    def answer(self, event):
        """
        XEP-0092 §2: name, version and, when allowed, the OS.
        """
        query = makeElement(NS.VERSION, "query")
        fields = [("name", SOFTWARE_NAME), ("version", SERVER_VERSION)]
        if self.showOS:
            fields.append(("os", operatingSystem()))
        for local, text in fields:
            child = makeElement(NS.VERSION, local)
            child.text = text
            query.append(child)
        return query
