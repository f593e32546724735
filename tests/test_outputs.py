"""What the toolkit writes: atomic, the umask's mode, safe against a racing writer, valid JSON."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import stat

import pytest

from adversarial import FAKE_REPORT
from helpers import tree

from mcu_toolkit.bundle import HASHED, Bundle, Report, earlier_bundle_or_empty, json_text
from mcu_toolkit.errors import ToolkitError
from mcu_toolkit.outputs import atomic_write, check_dir_target, check_file_target, staged_dir, starts_with


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_written_files_get_the_umask_mode_also_when_forced(tmp_path, umask_022):
    p = atomic_write(b"x", tmp_path / "a.json", force=False)
    assert _mode(p) == 0o644
    os.chmod(p, 0o600)
    atomic_write(b"y", p, force=True)
    assert _mode(p) == 0o644 and p.read_bytes() == b"y"


def test_staged_folder_gets_the_umask_mode(tmp_path, umask_022):
    with staged_dir(tmp_path / "deep" / "out", force=False) as stage:
        (stage / "f").write_text("1")
    assert _mode(tmp_path / "deep" / "out") == 0o755


def test_failed_stage_leaves_nothing_not_even_parents(tmp_path):
    with pytest.raises(RuntimeError):
        with staged_dir(tmp_path / "a" / "b" / "out", force=False) as stage:
            (stage / "half").write_text("half a bundle")
            raise RuntimeError("boom")
    assert tree(tmp_path) == set()


def test_existing_output_is_kept_without_force(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(ToolkitError, match="already exists; use --force"):
        check_dir_target(tmp_path / "out", force=False)


def _earlier_bundle(d):
    d.mkdir(parents=True)
    (d / "report.json").write_text(json.dumps(FAKE_REPORT))
    (d / "model.onnx").write_bytes(b"old")
    return d


def test_force_replaces_an_empty_folder_or_an_earlier_bundle_only(tmp_path):
    empty, old, foreign = tmp_path / "empty", _earlier_bundle(tmp_path / "old"), tmp_path / "repo"
    empty.mkdir()
    (foreign / ".git").mkdir(parents=True)
    (foreign / "main.c").write_text("int main(void) { return 0; }")
    for d in (empty, old):
        assert check_dir_target(d, force=True, ours=earlier_bundle_or_empty) == d
    with pytest.raises(ToolkitError, match=r"refusing to replace .*repo, even with --force: it is not an earlier "
                                           "convert bundle"):
        check_dir_target(foreign, force=True, ours=earlier_bundle_or_empty, what="an earlier convert bundle")
    assert (foreign / "main.c").read_text() == "int main(void) { return 0; }"


def test_out_that_is_or_holds_an_input_is_refused_also_through_a_link(tmp_path):
    ckpt = tmp_path / "work" / "ckpt"
    ckpt.mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "work")
    for out, how in ((ckpt, "is"), (tmp_path / "work", "holds"), (tmp_path / "link", "holds"),
                     (tmp_path / "link" / "ckpt", "is")):
        with pytest.raises(ToolkitError, match=f"--out {out} {how} the checkpoint"):
            check_dir_target(out, force=True, inputs={"the checkpoint": ckpt})
    # beside or inside an input is fine: nothing of it is replaced
    assert check_dir_target(ckpt / "out", force=True, inputs={"the checkpoint": ckpt}) == ckpt / "out"


def test_a_folder_that_turns_foreign_during_the_run_is_not_replaced(tmp_path):
    out = _earlier_bundle(tmp_path / "out")
    with pytest.raises(ToolkitError, match="refusing to replace"):
        with staged_dir(out, force=True, ours=earlier_bundle_or_empty) as stage:
            (stage / "report.json").write_text("{}")
            (out / "report.json").unlink()  # someone else's files now
            (out / "thesis.tex").write_text("three years")
    assert sorted(os.listdir(out)) == ["model.onnx", "thesis.tex"]
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_force_replaces_a_file_only_in_its_own_format(tmp_path):
    npy = tmp_path / "x.npy"
    npy.write_text("my notes")
    with pytest.raises(ToolkitError, match="refusing to replace .*x.npy: it is not an earlier features file"):
        check_file_target(npy, force=True, what="features file", ours=starts_with(b"\x93NUMPY"))
    npy.write_bytes(b"\x93NUMPY\x01\x00")
    assert check_file_target(npy, force=True, ours=starts_with(b"\x93NUMPY")) == npy


def test_a_bundle_records_every_files_sha256_and_refuses_a_changed_one(tmp_path):
    files = {name: f"/* {name} */\n" for name in HASHED}
    report = Report.from_dict({k: v for k, v in FAKE_REPORT.items() if k != "engine"})  # all report.md needs
    Bundle.write(tmp_path / "b", files, report, force=False)
    recorded = json.loads((tmp_path / "b" / "report.json").read_text())["sha256"]
    assert sorted(recorded) == sorted(HASHED)
    assert recorded["model.onnx"] == "4bc0ed59f666c52e7cff26c0a1ea70e8e47ee9f27ed559c63ae927390d1e332d"  # sha256sum
    assert Bundle.open(tmp_path / "b").notes == []
    (tmp_path / "b" / "w2s_engine_model.c").write_text("/* another convert's model */\n")
    with pytest.raises(ToolkitError, match="w2s_engine_model.c is not the file this bundle's convert wrote"):
        Bundle.open(tmp_path / "b")


def _publish_many(args):
    out, n, tag = args
    for i in range(n):
        with staged_dir(out, force=True) as stage:
            for j in range(5):
                (stage / f"f{j}").write_text(f"{tag}:{i}")
    return True


def test_racing_force_publishers_never_fail_and_leave_a_whole_folder(tmp_path):
    out = tmp_path / "out"
    with mp.get_context("spawn").Pool(2) as pool:
        assert all(pool.map(_publish_many, [(out, 150, "a"), (out, 150, "b")]))
    texts = {(out / f"f{j}").read_text() for j in range(5)}
    assert len(texts) == 1  # all five files from one publisher's run
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no stage or old folders left behind


def test_report_json_is_strict_json_with_nan_as_null():
    text = json_text({"ccc": {"arousal": float("nan"), "valence": float("inf"), "d": 0.5}, "l": [float("-inf")]})
    assert json.loads(text) == {"ccc": {"arousal": None, "valence": None, "d": 0.5}, "l": [None]}
    assert "NaN" not in text and "Infinity" not in text


CHILD = """
import signal, sys
from pathlib import Path
from mcu_toolkit.cli import _raise_terminated
from mcu_toolkit.errors import Terminated
import subprocess
from mcu_toolkit.export.tflite import wait_killable
from mcu_toolkit.outputs import staged_dir

signal.signal(signal.SIGTERM, _raise_terminated)
ws = Path(sys.argv[1])
try:
    with staged_dir(ws / "out", force=False) as stage:
        (stage / "half").write_text("half a bundle")
        wait_killable(subprocess.Popen(["sh", "-c", f"sleep 60 & echo $! > {ws.parent}/grandchild.pid; wait"],
                                       start_new_session=True))
except Terminated:
    sys.exit(143)
"""


def test_sigterm_kills_the_child_group_and_removes_the_stage(tmp_path):
    """What convert relies on: SIGTERM unwinds like Ctrl-C, the stage goes, onnx2tf's whole group dies."""
    import signal
    import subprocess
    import sys
    import time

    ws = tmp_path / "ws"
    ws.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(ws)])
    pid_file = tmp_path / "grandchild.pid"
    deadline = time.time() + 30
    while time.time() < deadline and not (pid_file.exists() and pid_file.read_text().strip()):
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    assert tree(ws) == set()
    time.sleep(0.2)
    import psutil

    # gone, or a zombie waiting for a reaper (a container's PID 1 may never reap it)
    assert not psutil.pid_exists(grandchild) or psutil.Process(grandchild).status() == psutil.STATUS_ZOMBIE


def test_validate_replaces_only_its_own_json_and_images(tmp_path):
    from mcu_toolkit.verify.validation import check_outputs

    (tmp_path / "v.json").write_text(json.dumps({"ccc_deployed_vs_float": {}, "per_file": []}))
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "arousal.png").write_bytes(b"\x89PNG\r\n\x1a\n...")
    check_outputs(tmp_path / "bundle", json_path=tmp_path / "v.json", plot_dir=tmp_path / "plots")
    (tmp_path / "config.json").write_text('{"n_mels": 26}')
    with pytest.raises(ToolkitError, match="refusing to replace .*config.json: it is not an earlier --json file"):
        check_outputs(tmp_path / "bundle", json_path=tmp_path / "config.json")
    (tmp_path / "plots" / "valence.png").write_text("a sketch of mine")
    with pytest.raises(ToolkitError, match="refusing to replace .*valence.png: it is not an earlier --plot image"):
        check_outputs(tmp_path / "bundle", plot_dir=tmp_path / "plots")
