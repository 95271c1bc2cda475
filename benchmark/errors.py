"""One error type for user mistakes: the CLI prints its message on one line and exits non-zero."""


class PhenoBenchError(Exception):
    """A user-facing error: bad input, missing file, unknown id.

    The message names the file (and the row or id where there is one) and says what to do.
    Programming errors stay ordinary exceptions with tracebacks.
    """

    exit_code = 2
