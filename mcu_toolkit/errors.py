"""One exception type for everything the user can fix, and the exit codes every command uses.

The CLI turns a ToolkitError into a single line on stderr and the exit code it carries,
so bad input never ends in a traceback.
"""

from __future__ import annotations

import enum
import signal


class ExitCode(enum.IntEnum):
    """Decided here once; `--help` prints this table."""

    OK = 0
    CHECK_FAILED = 1       # a gate or a proof failed: CCC, drift, TFLM, a model that says nothing
    BAD_INPUT = 2          # checkpoint, audio, labels, paths, options
    TOOLCHAIN = 3          # onnx2tf / TensorFlow failed
    HUNG_UP = 129          # SIGHUP (unless started under nohup)
    INTERRUPTED = 130      # SIGINT
    TERMINATED = 143       # SIGTERM


EXIT_CODE_HELP = {
    ExitCode.OK: "done, and every gate passed",
    ExitCode.CHECK_FAILED: "a check failed (CCC or drift gate, TFLM, NaN or constant model outputs)",
    ExitCode.BAD_INPUT: "bad input (checkpoint, audio, labels, paths, options)",
    ExitCode.TOOLCHAIN: "the conversion toolchain (onnx2tf/TensorFlow) failed",
    ExitCode.HUNG_UP: "hung up (SIGHUP); no output written",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C); no output written",
    ExitCode.TERMINATED: "terminated (SIGTERM); no output written",
}


def exit_codes_epilog() -> str:
    """The exit-code table for a command's --help (click keeps lines after \\b as they are)."""
    rows = "\n".join(f"  {int(c):>3}  {text}" for c, text in EXIT_CODE_HELP.items())
    return "\b\nExit codes:\n" + rows + "\n"


class ToolkitError(Exception):
    """A problem with the user's input or environment, worded for the user."""

    def __init__(self, message: str, exit_code: int = ExitCode.BAD_INPUT):
        super().__init__(message)
        self.exit_code = int(exit_code)


class CheckFailed(ToolkitError):
    """The input was fine, but what came out of it must not be deployed."""

    def __init__(self, message: str):
        super().__init__(message, ExitCode.CHECK_FAILED)


class ToolchainFailed(ToolkitError):
    """onnx2tf, onnxsim or TensorFlow failed on an input that passed every check."""

    def __init__(self, message: str):
        super().__init__(message, ExitCode.TOOLCHAIN)


class Terminated(BaseException):
    """A stop signal (SIGTERM, SIGHUP, the CLI's SIGINT), raised in the main thread so that every cleanup path
    runs, like KeyboardInterrupt."""

    EXITS = {signal.SIGINT: (ExitCode.INTERRUPTED, "interrupted"), signal.SIGHUP: (ExitCode.HUNG_UP, "hung up"),
             signal.SIGTERM: (ExitCode.TERMINATED, "terminated")}

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(signum)
        code, what = self.EXITS.get(signum, self.EXITS[signal.SIGTERM])
        self.exit_code, self.message = int(code), f"{what}; no output written"
