"""
XML for XML streams: the incremental stream parser, namespaces and stanza
helpers.  Stanzas are lxml elements throughout the server.
"""
