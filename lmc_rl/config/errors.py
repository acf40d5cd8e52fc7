"""The one exception type that means "the user asked for something we cannot do"."""


class UserError(Exception):
    """A bad flag, file or value: the CLI prints its message on one line and exits with status 2."""
