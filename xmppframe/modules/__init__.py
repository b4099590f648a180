"""
The built-in feature modules, one feature each.  Each imports only
L{xmppframe.api}, L{xmppframe.xml} and L{xmppframe.errors}; they are found
and loaded by L{xmppframe.moduleloader} through the plugins in
C{twisted/plugins/xmppframe_plugin.py}.
"""
