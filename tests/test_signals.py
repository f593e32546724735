"""Signals against the real CLI: what survives it and what it leaves behind.

Each run starts `mcu-toolkit` in a session of its own, with its own TMPDIR and a marker in its environment
(every child inherits it, whatever session or group it moves to), waits for a point of the run (the
evaluation pool, the code-size compiles, validate's QEMU runs), sends one signal, and then lists the
processes that carry the marker 2 s after the tool has gone, the files left in TMPDIR and in the folder
that holds --out, and what the tool printed on stderr.

SIGINT goes to the tool's process group, as a terminal's Ctrl-C does; SIGTERM, SIGHUP and SIGKILL to its
pid alone, as a supervisor sends them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT

MARKER_VAR = "MCU_TOOLKIT_SIGNAL_TEST"
GRACE_S = 2.0
CATCHABLE = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
LAST_LINE = {signal.SIGINT: "error: interrupted; no output written",
             signal.SIGTERM: "error: terminated; no output written",
             signal.SIGHUP: "error: hung up; no output written"}


def marked_processes(marker: str) -> list[tuple[int, str]]:
    """(pid, command line) of every live process whose environment carries `marker` (zombies excluded)."""
    needle = f"{MARKER_VAR}={marker}".encode()
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue
            with open(f"/proc/{d}/environ", "rb") as f:
                if needle not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                found.append((int(d), f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:120]))
        except (OSError, IndexError):
            continue  # gone meanwhile, or not ours to read
    return found


def _default_stop_signals() -> None:
    """The tool as a terminal starts it, even if this test runs under nohup or in a background job."""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, signal.SIG_DFL)


@dataclass
class SignalRun:
    code: int | None             # the tool's exit status (-9: killed)
    exit_s: float                # from the signal to the tool's exit
    stderr_after: list[str]      # what it printed on stderr after the signal
    survivors: list              # marked processes GRACE_S after the tool's exit
    leftovers: list[str]         # files in TMPDIR and beside --out

    def summary(self) -> str:
        return (f"exit {self.code} after {self.exit_s:.2f} s; survivors {self.survivors}; "
                f"leftovers {self.leftovers}; stderr {self.stderr_after}")


def run_and_signal(args: list[str], sig: int, ready, tmp: Path, out_parent: Path, timeout: float = 300,
                   settle_s: float = 0.0) -> SignalRun:
    """Run the CLI with `args`; once ready(processes) is true for its marked processes, wait settle_s and send
    `sig`. ready sees [(pid, cmdline)]."""
    marker = uuid.uuid4().hex
    tmpdir = tmp / "tmpdir"
    tmpdir.mkdir()
    err_path = tmp / "stderr.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmpdir), MARKER_VAR: marker}
    with open(err_path, "w") as err, open(tmp / "stdout.txt", "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mcu_toolkit.cli", *args], stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, env=env, cwd=tmp, start_new_session=True,
                                preexec_fn=_default_stop_signals)
    try:
        deadline = time.monotonic() + timeout
        while not ready(marked_processes(marker)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the point to signal never came (exit {proc.poll()}): "
                                     f"{err_path.read_text()[-500:]}")
            time.sleep(0.02)
        time.sleep(settle_s)
        seen = err_path.stat().st_size
        sent = time.monotonic()
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)  # a terminal sends Ctrl-C to the foreground process group
        else:
            os.kill(proc.pid, sig)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        exit_s = time.monotonic() - sent
        time.sleep(GRACE_S)
        survivors = marked_processes(marker)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid, _ in marked_processes(marker):  # the harness never leaves its own orphans
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    with open(err_path, "rb") as f:
        f.seek(seen)
        after = [ln for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
    leftovers = sorted([f"TMPDIR/{n}" for n in os.listdir(tmpdir)] +
                       [f"out_parent/{n}" for n in os.listdir(out_parent)])
    return SignalRun(proc.returncode, exit_s, after, survivors, leftovers)


def _has(*words):
    return lambda procs: any(any(w in cmd for w in words) for _, cmd in procs)


def pool_running(procs) -> bool:
    """convert's evaluation workers (spawned) are up."""
    return sum("multiprocessing" in cmd and "spawn_main" in cmd for _, cmd in procs) >= 2


compiling = _has("arm-none-eabi-gcc", "cc1 ", "/as ")  # the code-size compiles
on_qemu = _has("qemu-system-arm")


def assert_clean(run: SignalRun, sig: int) -> None:
    assert not run.survivors, run.summary()
    if sig == signal.SIGKILL:
        return  # nothing can clean up after SIGKILL: only processes count
    assert run.code == CATCHABLE[sig], run.summary()
    assert run.exit_s <= GRACE_S, run.summary()
    assert run.stderr_after == [LAST_LINE[sig]], run.summary()
    assert run.leftovers == [], run.summary()


SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL]


@pytest.mark.slow
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
@pytest.mark.parametrize("point,ready,settle_s", [("eval_pool", pool_running, 1.0), ("code_size", compiling, 0.0)],
                         ids=["eval_pool", "code_size"])
def test_convert_leaves_no_process_and_no_folder_after_a_signal(sig, point, ready, settle_s, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    run = run_and_signal(["convert", "--jobs", "2", "--out", str(ws / "out")], sig, ready, tmp_path, ws,
                         settle_s=settle_s)
    assert_clean(run, sig)


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory, heldout):
    """Two 12 s clips: QEMU is busy on each for many seconds, as on a user's long recordings."""
    from mcu_toolkit.verify.device import write_wav

    d = tmp_path_factory.mktemp("long")
    audio = np.concatenate(heldout[1])
    for i in range(2):
        part = np.resize(np.roll(audio, 50_000 * i), 12 * 16000)
        write_wav(d / f"long{i}.wav", np.clip(part * 32767, -32768, 32767).astype(np.int16))
    return d


@pytest.mark.slow
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_validate_on_qemu_with_two_jobs_stops_at_once_and_leaves_nothing(sig, bundle, long_clips, tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    run = run_and_signal(["validate", str(bundle.out), "--audio", str(long_clips), "--jobs", "2",
                          "--device", "qemu-m4", "--json", str(ws / "v.json")], sig, on_qemu, tmp_path, ws,
                         settle_s=1.0)
    assert_clean(run, sig)
