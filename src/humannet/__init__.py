"""humannet: raw video in, a curated human-centric clip corpus out."""

__version__ = "0.1.0"


class HumannetError(Exception):
    """A problem the person running humannet can fix; the message says what and how.

    The command line prints it as one `error:` line and exits 2 instead of showing a traceback.
    """


class UsageError(HumannetError):
    """A bad argument, configuration value or input list, as opposed to data that cannot be used as asked."""
