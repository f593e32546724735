"""The command line: help that teaches, one-line errors, no partial output."""

import numpy as np
import soundfile as sf

from mcu_toolkit import resources

from helpers import FRAMES, MELS, WINDOW, run_cli


def _assert_one_line_error(r, fragment):
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in r.stderr


def test_help_teaches():
    r = run_cli("convert", "--help")
    assert r.returncode == 0
    for needle in ("--calibration", "--window-seconds", "--force", "Exit codes", "weights_only=True",
                   "model_ops.h"):
        assert needle in r.stdout


def test_missing_checkpoint(tmp_path):
    r = run_cli("convert", str(tmp_path / "nope.safetensors"), "--out", str(tmp_path / "o"))
    _assert_one_line_error(r, "checkpoint not found")
    assert r.returncode == 2 and not (tmp_path / "o").exists()


def test_empty_calibration_dir(tmp_path):
    (tmp_path / "cal").mkdir()
    r = run_cli("convert", "--calibration", str(tmp_path / "cal"), "--out", str(tmp_path / "o"))
    _assert_one_line_error(r, "no audio files")
    assert r.returncode == 2 and not (tmp_path / "o").exists()


def test_corrupt_wav_in_calibration(tmp_path):
    cal = tmp_path / "cal"
    cal.mkdir()
    sf.write(cal / "good.wav", np.zeros(40000, np.float32), 16000)
    (cal / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    r = run_cli("convert", "--calibration", str(cal), "--out", str(tmp_path / "o"))
    _assert_one_line_error(r, "broken.wav")
    assert r.returncode == 2 and not (tmp_path / "o").exists()
    assert not list(tmp_path.glob(".o.tmp.*"))


def test_existing_out_without_force(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    r = run_cli("convert", "--out", str(out))
    _assert_one_line_error(r, "already exists; use --force")
    assert r.returncode == 2 and (out / "keep.txt").read_text() == "mine"


def test_bad_window(tmp_path):
    r = run_cli("convert", "--window-seconds", "0", "--out", str(tmp_path / "o"))
    _assert_one_line_error(r, "--window-seconds")


def test_packaged_resources_exist():
    assert (resources.default_checkpoint() / "model.safetensors").is_file()
    assert (resources.default_calibration_dir()).is_dir()
    assert (resources.firmware_templates_root()).is_dir()


def test_features_fixed_and_float(tmp_path):
    from mcu_toolkit.dsp import fixed

    clip = sorted(resources.default_eval_dir().glob("real_arctic*.flac"))[0]
    r = run_cli("features", str(clip), "--out", str(tmp_path / "q.npy"))
    assert r.returncode == 0, r.stderr
    q = np.load(tmp_path / "q.npy")
    pcm, _ = sf.read(clip, dtype="int16")
    assert q.dtype == np.int16 and q.shape == (1, FRAMES, MELS)
    assert np.array_equal(q[0], fixed.window_logmel_q7(pcm[:WINDOW]))
    r = run_cli("features", str(clip), "--out", str(tmp_path / "f.npy"), "--float")
    f = np.load(tmp_path / "f.npy")
    assert f.dtype == np.float32 and np.mean(np.abs(q / 128.0 - f)) < 0.25
    r = run_cli("features", str(clip), "--out", str(tmp_path / "q.npy"))
    _assert_one_line_error(r, "already exists")


def test_features_bad_input(tmp_path):
    r = run_cli("features", str(tmp_path / "missing.wav"), "--out", str(tmp_path / "x.npy"))
    _assert_one_line_error(r, "audio file not found")
    assert r.returncode == 2 and not (tmp_path / "x.npy").exists()


def test_installed_wheel_carries_the_data():
    """After a non-editable `pip install .` the audio, templates, checkpoint and C sources are in the
    installed package (CI installs it that way)."""
    import json
    from importlib import metadata

    import pytest

    import site
    import sysconfig

    from mcu_toolkit.emit.c_engine import SOURCES

    # Only an installed .dist-info counts, not the egg-info a build leaves in the checkout.
    paths = [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]
    found = [d for d in metadata.distributions(name="mcu-toolkit", path=paths)]
    if not found:
        pytest.skip("mcu-toolkit is not installed")
    dist = found[0]
    direct = dist.read_text("direct_url.json")
    if direct and json.loads(direct).get("dir_info", {}).get("editable"):
        pytest.skip("editable install")
    files = {str(f) for f in dist.files or []}
    assert "mcu_toolkit/firmware_templates/README.md" in files
    assert "mcu_toolkit/calibration_audio/SOURCES.md" in files
    assert "mcu_toolkit/assets/wav2small_reference/model.safetensors" in files
    assert {"mcu_toolkit/dsp/c/w2s_frontend.c", "mcu_toolkit/dsp/c/w2s_frontend.h"} <= files
    assert {f"mcu_toolkit/engine/c/{n}" for n in SOURCES} <= files
    flacs = [f for f in files if f.startswith("mcu_toolkit/calibration_audio/calibration/") and f.endswith(".flac")]
    assert len(flacs) >= 60


def test_help_and_readme_state_the_same_facts():
    """Facts in --help come from one definition, and the README agrees with it."""
    from pathlib import Path

    from mcu_toolkit import bundle, options
    from mcu_toolkit.errors import EXIT_CODE_HELP

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    conv = run_cli("convert", "--help").stdout
    flat = " ".join(conv.split())
    assert f"about {options.ARENA_KIB_PER_SECOND} KiB per second" in flat
    assert f"about {options.ARENA_KIB_PER_SECOND} KiB per second" in " ".join(readme.split())
    for name in bundle.FILES:
        stem, ext = name.rsplit(".", 1)
        assert name in flat or f"{stem}.{{h,c}}" in flat, name
        assert f"`{name}`" in readme or f"`{stem}.h` / `.c`" in readme or f"`{stem}.h`" in readme, name
    from mcu_toolkit.firmware.boards import BOARDS, summary

    firmware_help = " ".join(run_cli("firmware", "--help").stdout.split())
    for b in BOARDS.values():  # the help's board list is BOARDS, and the README names each board
        assert " ".join(summary(b).split()) in firmware_help, b.name
        assert f"`{b.name}`" in readme, b.name
    from mcu_toolkit.spec import WINDOW_DEFAULT_S, WINDOW_MAX_S, WINDOW_MIN_S

    window = f"From {WINDOW_MIN_S:g} to {WINDOW_MAX_S:g} s"  # every command's range is spec.py's
    assert f"(default {WINDOW_DEFAULT_S:g}, from {WINDOW_MIN_S:g} to {WINDOW_MAX_S:g}," in " ".join(readme.split())
    for cmd in ("convert", "validate", "features", "firmware"):
        text = " ".join(run_cli(cmd, "--help").stdout.split())
        for code, what in EXIT_CODE_HELP.items():
            assert f"{int(code)} {what}" in text, (cmd, code)
        assert (window in text) == (cmd != "validate"), cmd  # validate takes the bundle's window


def test_readme_usage_lines_list_every_option_of_the_command():
    """Each README usage line (`mcu-toolkit CMD ...` in a code block, with its continuation lines) lists exactly
    the options the command takes, with the same choices (validate's once lacked --quiet)."""
    import re
    from pathlib import Path

    import click

    from mcu_toolkit.cli import cli

    lines = (Path(__file__).resolve().parent.parent / "README.md").read_text().splitlines()
    usages = []
    for i, line in enumerate(lines):
        m = re.match(r"mcu-toolkit (\w+) ", line)
        if m:
            text = line
            for more in lines[i + 1:]:
                if not re.match(r"\s+\[?--", more):
                    break
                text += " " + more.strip()
            usages.append((m.group(1), text))
    assert sorted({c for c, _ in usages}) == sorted(cli.commands), usages
    for name, text in usages:
        params = [p for p in cli.commands[name].params  # a hidden option (an old one, still accepted) is not shown
                  if isinstance(p, click.Option) and p.opts[0] != "--help" and not p.hidden]
        shown = re.findall(r"(--[a-z][a-z0-9-]*)(?: ([^\]\s]+))?", text)
        assert sorted(o for o, _ in shown) == sorted(p.opts[0] for p in params), (name, text)
        for p in params:
            value = dict(shown)[p.opts[0]]
            if isinstance(p.type, click.Choice) and not value.isupper():  # a metavar (BOARD) or the choices
                assert value.split("|") == list(p.type.choices), (name, p.opts, value)


def test_features_and_validate_workers_do_not_import_torch():
    """torch costs seconds per process: the front end, features and validate's workers are torch-free."""
    import subprocess
    import sys

    clip = sorted(resources.default_eval_dir().glob("*.flac"))[0]
    code = (
        "import sys\n"
        "from mcu_toolkit.features import features\n"
        "from mcu_toolkit.verify import validation, deployed\n"
        "from mcu_toolkit import cli, convert, outputs, bundle, spec\n"
        f"a = features({str(clip)!r})\n"
        f"b = features({str(clip)!r}, use_float=True)\n"
        "assert a.shape[1:] == (999, 26) and b.shape == a.shape\n"
        "print('torch' in sys.modules)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_jobs_beyond_the_usable_cores_are_capped_with_a_note():
    """--jobs 8 on 2 cores started 8 TFLM workers; now it runs as many as the process may use, and says so."""
    import os

    import click
    from click.testing import CliRunner

    from mcu_toolkit import options as opt

    @click.command()
    @opt.jobs()
    def cmd(jobs):
        click.echo(jobs)

    cores = len(os.sched_getaffinity(0))
    opt.NOTES.clear()
    assert CliRunner().invoke(cmd, ["--jobs", str(cores)]).output.strip() == str(cores) and opt.NOTES == []
    assert CliRunner().invoke(cmd, ["--jobs", str(cores + 6)]).output.strip() == str(cores)
    assert opt.NOTES == [f"--jobs {cores + 6} is more than the {cores} core(s) this process may use; running {cores}"]
    opt.NOTES.clear()
