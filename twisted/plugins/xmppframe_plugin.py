"""
Makes C{twistd xmppframe} available.  This directory has no __init__.py on
purpose: Twisted collects every twisted/plugins directory on sys.path.
"""

from twisted.application.service import ServiceMaker

xmppframe = ServiceMaker(
    "xmppframe", "xmppframe.tap", "An XMPP server (RFC 6120/6121)", "xmppframe")

# The built-in feature modules.  Each class declares its name,
# dependencies, specifications and options itself.
from xmppframe.moduleloader import ModulePlugin  # noqa: E402

ping = ModulePlugin("xmppframe.modules.ping.PingModule")
roster = ModulePlugin("xmppframe.modules.roster.RosterModule")
offline = ModulePlugin("xmppframe.modules.offline.OfflineModule")
register = ModulePlugin("xmppframe.modules.register.RegisterModule")
privacy = ModulePlugin("xmppframe.modules.privacy.PrivacyModule")
blocking = ModulePlugin("xmppframe.modules.blocking.BlockingModule")
presence = ModulePlugin("xmppframe.modules.presence.PresenceModule")
subscription = ModulePlugin("xmppframe.modules.subscription.SubscriptionModule")
carbons = ModulePlugin("xmppframe.modules.carbons.CarbonsModule")
csi = ModulePlugin("xmppframe.modules.csi.CSIModule")
disco = ModulePlugin("xmppframe.modules.disco.DiscoModule")
caps = ModulePlugin("xmppframe.modules.caps.CapsModule")
vcard = ModulePlugin("xmppframe.modules.vcard.VCardModule")
private = ModulePlugin("xmppframe.modules.private.PrivateStorageModule")
version = ModulePlugin("xmppframe.modules.version.VersionModule")
entityTime = ModulePlugin("xmppframe.modules.entitytime.EntityTimeModule")
mam = ModulePlugin("xmppframe.modules.mam.MamModule")
lastactivity = ModulePlugin("xmppframe.modules.lastactivity.LastActivityModule")
