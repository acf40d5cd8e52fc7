"""The exception types the CLI turns into a message: "the user asked for something we cannot do",
and "the user stopped a run" (Ctrl-C)."""


class UserError(Exception):
    """A bad flag, file or value: the CLI prints its message on one line and exits with status 2."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run: carries what to tell the user (where the run is, how to resume)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
