"""
What a module may declare about its options: their kind, default and
check.  The config layer validates a host's module options against these
declarations (C{xmppframe config check} and start-up use the same path),
so a module never parses or re-checks its own options: it reads the
validated values from C{api.options}.
"""

from dataclasses import dataclass

#: The kinds an option can have; the same kinds as the server's own
#: settings, validated the same way.
OPTION_KINDS = frozenset({"string", "integer", "number", "boolean", "path", "strings"})


@dataclass(frozen=True)
class ModuleOption:
    """
    One option a module takes: C{kind} is one of L{OPTION_KINDS};
    C{default} is written as in TOML; C{check(value)} returns C{None} or a
    message saying what is wrong.
    """
    kind: str
    default: object
    check: object = None
    help: str = ""

    def __post_init__(self):
        if self.kind not in OPTION_KINDS:
            raise ValueError("unknown option kind %r" % (self.kind,))


def atLeast(minimum):
    """
    A L{ModuleOption} check: the value is at least C{minimum}.
    """
    def check(value):
        if value < minimum:
            return "must be at least %s, got %s" % (minimum, value)
    return check


def oneOf(*choices):
    """
    A L{ModuleOption} check: the value is one of C{choices}.
    """
    def check(value):
        if value not in choices:
            return "must be one of %s, got %r" % (", ".join(map(repr, choices)), value)
    return check
