"""
Makes C{twistd xmppframe} available.  This directory has no __init__.py on
purpose: Twisted collects every twisted/plugins directory on sys.path.
"""

from twisted.application.service import ServiceMaker

xmppframe = ServiceMaker(
    "xmppframe", "xmppframe.tap", "An XMPP server (RFC 6120/6121)", "xmppframe")

# The built-in feature modules.  Importing xmppframe.modules is cheap: each
# module's code is imported only when a host loads it.
from xmppframe.modules import ModulePlugin  # noqa: E402

ping = ModulePlugin("ping", (), "xmppframe.modules.ping.PingModule",
                    "XEP-0199: the server answers pings")
roster = ModulePlugin("roster", (), "xmppframe.modules.roster.RosterModule",
                      "RFC 6121 §2: rosters, with roster versioning (§2.6)")
offline = ModulePlugin("offline", (), "xmppframe.modules.offline.OfflineModule",
                       "XEP-0160: messages to offline accounts are stored and delivered later")
register = ModulePlugin("register", (), "xmppframe.modules.register.RegisterModule",
                        "XEP-0077: in-band registration, password change, account removal")
privacy = ModulePlugin("privacy", ("roster",), "xmppframe.modules.privacy.PrivacyModule",
                       "XEP-0016: privacy lists, and the filter enforcing them and the blocklist")
blocking = ModulePlugin("blocking", ("privacy",), "xmppframe.modules.blocking.BlockingModule",
                        "XEP-0191: the blocking command, on the privacy lists' store")
presence = ModulePlugin("presence", ("roster",), "xmppframe.modules.presence.PresenceModule",
                        "RFC 6121 §4: presence broadcast, probes, directed and unavailable presence")
subscription = ModulePlugin("subscription", ("roster",),
                            "xmppframe.modules.subscription.SubscriptionModule",
                            "RFC 6121 §3: presence subscriptions and pre-approval")
carbons = ModulePlugin("carbons", (), "xmppframe.modules.carbons.CarbonsModule",
                       "XEP-0280: message carbons, both sides of a conversation on every device")
csi = ModulePlugin("csi", (), "xmppframe.modules.csi.CSIModule",
                   "XEP-0352: client state indication, presence held while a client is inactive")
disco = ModulePlugin("disco", (), "xmppframe.modules.disco.DiscoModule",
                     "XEP-0030 service discovery, with XEP-0157 contact addresses (XEP-0128)")
caps = ModulePlugin("caps", ("disco",), "xmppframe.modules.caps.CapsModule",
                    "XEP-0115: the server's entity capabilities, clients' caps verified and cached")
vcard = ModulePlugin("vcard", (), "xmppframe.modules.vcard.VCardModule",
                     "XEP-0054: vcard-temp, each account's vCard and the server's")
private = ModulePlugin("private", (), "xmppframe.modules.private.PrivateStorageModule",
                       "XEP-0049: private XML storage for each account")
version = ModulePlugin("version", (), "xmppframe.modules.version.VersionModule",
                       "XEP-0092: the server's software name and version")
entityTime = ModulePlugin("time", (), "xmppframe.modules.entitytime.EntityTimeModule",
                          "XEP-0202: the server's time (UTC)")
mam = ModulePlugin("mam", (), "xmppframe.modules.mam.MamModule",
                   "XEP-0313: message archive management, with XEP-0359 stanza ids and XEP-0441 preferences")
