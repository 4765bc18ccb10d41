"""humannet: raw video in, a curated human-centric clip corpus out."""

__version__ = "0.1.0"


class HumannetError(Exception):
    """A problem the user can act on; the command line prints its message on one line and exits 2."""


class UsageError(HumannetError):
    """Bad arguments, settings or input lists."""
