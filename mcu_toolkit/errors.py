"""One exception type for everything the user can fix.

The CLI turns it into a single line on stderr and the exit code it carries,
so bad input never ends in a traceback.
"""


class ToolkitError(Exception):
    """A problem with the user's input or environment, worded for the user."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code
