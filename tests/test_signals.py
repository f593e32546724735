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
        assert run.stderr_after == [], run.summary()  # no child speaks for the dead tool
        return  # nothing can remove folders after SIGKILL
    assert run.code == CATCHABLE[sig], run.summary()
    assert run.exit_s <= GRACE_S, run.summary()
    assert run.stderr_after == [LAST_LINE[sig]], run.summary()
    assert run.leftovers == [], run.summary()


SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGKILL]


# ---- the parts, fast ------------------------------------------------------------------------------

GROUP_OWNER = """
import subprocess, time
from mcu_toolkit.lifetime import child_group, in_group
with child_group():
    # a child we see and a grandchild we never see, as gcc and its cc1
    subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60"], **in_group())
    time.sleep(0.3)
    print("ready", flush=True)
    time.sleep(60)
"""

POOL_OWNER = """
import time
from mcu_toolkit.lifetime import WorkerPool
if __name__ == "__main__":
    with WorkerPool(2) as pool:
        pool.ex.submit(time.sleep, 60)
        pool.ex.submit(time.sleep, 60)
        time.sleep(1.0)
        print("ready", flush=True)
        time.sleep(60)
"""


@pytest.mark.parametrize("owner", [GROUP_OWNER, POOL_OWNER], ids=["group_and_grandchild", "worker_pool"])
def test_sigkill_of_the_owner_leaves_no_child_and_no_grandchild(owner, tmp_path):
    marker = uuid.uuid4().hex
    (tmp_path / "owner.py").write_text(owner)
    proc = subprocess.Popen([sys.executable, "owner.py"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path, start_new_session=True, preexec_fn=_default_stop_signals,
                            env={**os.environ, "PYTHONPATH": str(ROOT), MARKER_VAR: marker})
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        assert len(marked_processes(marker)) >= 3  # the owner, the sentinel or the workers, the children
        proc.kill()
        proc.wait()
        time.sleep(GRACE_S)
        assert marked_processes(marker) == []
        assert proc.stderr.read() == ""  # multiprocessing's resource tracker used to report leaked semaphores
    finally:
        for pid, _ in marked_processes(marker):
            os.kill(pid, signal.SIGKILL)


def test_closing_the_group_kills_what_is_left_in_it():
    from mcu_toolkit.lifetime import child_group, in_group

    with child_group():
        left = subprocess.Popen(["sleep", "60"], **in_group())
    assert left.wait(timeout=GRACE_S) == -signal.SIGKILL


def test_a_stopped_worker_pool_is_killed_not_waited_for():
    """validate --jobs 2 used to wait out the files in flight (72 s on a long clip on QEMU) before it stopped."""
    from mcu_toolkit.lifetime import WorkerPool

    with pytest.raises(KeyboardInterrupt):
        with WorkerPool(2) as pool:
            busy = [pool.ex.submit(time.sleep, 30) for _ in range(2)]
            while not all(f.running() for f in busy):
                time.sleep(0.02)
            t0 = time.monotonic()
            raise KeyboardInterrupt
    assert time.monotonic() - t0 < GRACE_S


STOPPED = """
import os, signal, sys, time
from pathlib import Path
import click
from mcu_toolkit import cli

@cli.cli.command("stop-me")
@click.argument("sig", type=int)
def stop_me(sig):
    try:
        os.kill(os.getpid(), sig)
        time.sleep(1.0)  # under nohup SIGHUP stays ignored, and the command ends normally
    finally:
        if SECOND:
            os.kill(os.getpid(), signal.SIGTERM)  # a supervisor's second signal, while we clean up
            time.sleep(0.1)
        Path("cleaned").write_text("the whole cleanup ran")

SECOND = sys.argv[2] == "1"
sys.argv = ["mcu-toolkit", "stop-me", sys.argv[1]]
cli.main()
"""


@pytest.mark.parametrize("sig,nohup,code,line", [
    (signal.SIGINT, False, 130, "error: interrupted; no output written"),
    (signal.SIGTERM, False, 143, "error: terminated; no output written"),
    (signal.SIGHUP, False, 129, "error: hung up; no output written"),
    (signal.SIGHUP, True, 0, None),
], ids=["SIGINT", "SIGTERM", "SIGHUP", "SIGHUP_under_nohup"])
def test_a_stop_signal_ends_the_run_with_its_code_and_one_line_and_a_second_waits_for_the_cleanup(
        sig, nohup, code, line, tmp_path):
    def start():
        _default_stop_signals()
        if nohup:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)

    r = subprocess.run([sys.executable, "-c", STOPPED, str(int(sig)), str(int(not nohup))], capture_output=True,
                       text=True, timeout=60, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                       preexec_fn=start)
    assert r.returncode == code, r.stderr
    assert r.stderr.splitlines() == ([line] if line else [])
    assert (tmp_path / "cleaned").read_text() == "the whole cleanup ran"


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
