"""What a long command shows on stderr: numbered step lines, notes under them, and a bar per batch of files.

convert shows steps, notes and a bar; validate shows a bar only. Everything is silent when disabled (--quiet,
tests), and a bar shows only on a terminal: in a CI log its carriage returns make one endless line.
"""

from __future__ import annotations

import sys


def bar(total: int, desc: str, enabled: bool = True):
    """A tqdm bar over `total` files, or a silent one; use it as a context manager, `update(1)` per file."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=not (enabled and sys.stderr.isatty()), leave=False,
                file=sys.stderr, unit="file", dynamic_ncols=True)


class AudioBar:
    """A bar over files measured in seconds of audio, with the real-time factor: `update(1)` per file done, in
    the files' order (as EvalPool.collect reports them). Off a terminal it does nothing (tqdm is not even
    imported: validate's start-up counts in its throughput)."""

    def __init__(self, seconds: list[float], desc: str, enabled: bool = True):
        import time

        self.seconds, self.done, self.t0, self.clock = seconds, 0, time.perf_counter(), time.perf_counter
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=round(sum(seconds), 1), desc=desc, leave=False, file=sys.stderr,
                            unit="s audio", dynamic_ncols=True,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s of audio "
                                       "[{elapsed}<{remaining}{postfix}]")

    def __enter__(self) -> "AudioBar":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()

    def update(self, files: int) -> None:
        step = sum(self.seconds[self.done:self.done + files])
        self.done += files
        if self.bar is not None:
            rate = (self.bar.n + step) / max(self.clock() - self.t0, 1e-9)
            self.bar.set_postfix_str(f"{rate:.0f}× real time", refresh=False)
            self.bar.update(step)


class Progress:
    """Step lines and bars on stderr; silent when disabled (tests, --quiet).

    Held lines wait until release(): convert's float-model checks run while TensorFlow quantises, and a model
    they refuse must still end as one error line, with no progress before it."""

    def __init__(self, enabled: bool, total_steps: int):
        self.enabled, self.total, self.n = enabled, total_steps, 0
        self.held: list[str] | None = []

    def _print(self, line: str) -> None:
        if not self.enabled:
            return
        if self.held is not None:
            self.held.append(line)
        else:
            print(line, file=sys.stderr, flush=True)

    def release(self) -> None:
        held, self.held = self.held or [], None
        for line in held:
            self._print(line)

    def step(self, text: str) -> None:
        self.n += 1
        self._print(f"[{self.n}/{self.total}] {text}")

    def bar(self, total: int, desc: str):
        return bar(total, f"      {desc}", self.enabled)  # under the step line it belongs to

    def note(self, text: str) -> None:
        self._print(f"      {text}")
