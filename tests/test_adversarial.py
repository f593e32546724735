"""Every CLI command against every bad input of the adversarial corpus (tests/adversarial.py).

Each case must end in exactly one line on stderr, the documented exit code, no traceback, and no new
file or folder anywhere (the workspace, TMPDIR). They run in-process through the console script's
own `main()`, so the whole matrix stays in the fast lane; a few run as real processes too.
"""

from __future__ import annotations

import signal
import tempfile

import pytest

from adversarial import build
from helpers import run_cli, tree

from mcu_toolkit import resources
from mcu_toolkit.cli import main

HELDOUT = str(resources.default_eval_dir())
CLIP = str(sorted(resources.default_eval_dir().glob("*.flac"))[0])

# (name, argv with {corpus keys} and {ws} for the workspace, exit code, fragment of the one stderr line)
CASES = [
    # convert: the checkpoint
    ("convert_missing_ckpt", ["convert", "{ws}/nope.safetensors", "--out", "{ws}/o"], 2, "checkpoint not found"),
    ("convert_pickled_code", ["convert", "{ckpt_pickled_code}", "--out", "{ws}/o"], 2,
     "refusing to unpickle code from"),
    ("convert_junk_pt", ["convert", "{ckpt_junk_pt}", "--out", "{ws}/o"], 2, "not a PyTorch state_dict file"),
    ("convert_bad_amin", ["convert", "{ckpt_bad_amin}", "--out", "{ws}/o"], 2, "amin is 1e-05"),
    ("convert_other_mel", ["convert", "{ckpt_other_mel}", "--out", "{ws}/o"], 2,
     "vgg7.logmel_extractor.melW differs from the front end the device runs (largest difference"),
    ("convert_other_stft", ["convert", "{ckpt_other_stft}", "--out", "{ws}/o"], 2,
     "conv_real.weight differs from the front end"),
    ("convert_other_fft_size", ["convert", "{ckpt_nfft128}", "--out", "{ws}/o"], 2,
     "STFT has 128 points; the device front end is the card's 64-point STFT"),
    ("convert_out_is_cwd", ["convert", "--out", ".", "--force"], 2, "cannot replace .: a rename cannot move"),
    ("convert_zero_weights_f32", ["convert", "{ckpt_zero_f32}", "--out", "{ws}/o"], 1, "outputs are constant"),
    ("convert_zero_weights_i32", ["convert", "{ckpt_zero_i32}", "--out", "{ws}/o"], 1, "outputs are constant"),
    ("convert_dead_output", ["convert", "{ckpt_dead_valence}", "--out", "{ws}/o"], 1,
     "outputs are constant whatever the audio (valence"),
    ("convert_inf_outputs", ["convert", "{ckpt_inf_outputs}", "--out", "{ws}/o"], 1, "outputs are NaN or Inf"),
    # convert: audio and options
    ("convert_one_eval_clip", ["convert", "--eval", "{audio_one_clip}", "--out", "{ws}/o"], 2,
     "CCC needs at least 2"),
    ("convert_eval_silence", ["convert", "--eval", "{audio_silence}", "--out", "{ws}/o"], 2, "hardly vary"),
    ("convert_eval_identical", ["convert", "--eval", "{audio_identical}", "--out", "{ws}/o"], 2, "hardly vary"),
    ("convert_empty_calibration", ["convert", "--calibration", "{audio_empty}", "--out", "{ws}/o"], 2,
     "no audio files"),
    ("convert_broken_audio", ["convert", "--calibration", "{audio_broken}", "--out", "{ws}/o"], 2, "broken.wav"),
    ("convert_out_under_file", ["convert", "--out", "{file}/sub"], 2, "is not a directory"),
    ("convert_out_in_proc", ["convert", "--out", "/proc/mcu_toolkit_x"], 2, "cannot create /proc/mcu_toolkit_x"),
    ("convert_out_exists", ["convert", "--out", "{existing_out}"], 2, "already exists; use --force"),
    ("convert_out_is_file", ["convert", "--out", "{file}", "--force"], 2, "exists and is not a directory"),
    ("convert_window_nan", ["convert", "--window-seconds", "nan", "--out", "{ws}/o"], 2, "not a finite number"),
    ("convert_window_zero", ["convert", "--window-seconds", "0", "--out", "{ws}/o"], 2, "--window-seconds"),
    ("convert_window_too_long", ["convert", "--window-seconds", "61", "--out", "{ws}/o"], 2,
     "--window-seconds"),
    ("convert_min_ccc_nan", ["convert", "--min-ccc", "nan", "--out", "{ws}/o"], 2, "not a finite number"),
    ("convert_min_ccc_range", ["convert", "--min-ccc", "1.5", "--out", "{ws}/o"], 2, "not in the range [-1, 1]"),
    ("convert_bad_frontend", ["convert", "--frontend", "nope", "--out", "{ws}/o"], 2, "--frontend"),
    # validate
    ("validate_min_ccc_nan", ["validate", "{bundle_fake_2s}", "--audio", HELDOUT, "--min-ccc", "nan"], 2,
     "not a finite number"),
    ("validate_max_drift_nan", ["validate", "{bundle_fake_2s}", "--audio", HELDOUT, "--max-drift", "nan"], 2,
     "not a finite number"),
    ("validate_max_drift_negative", ["validate", "{bundle_fake_2s}", "--audio", HELDOUT, "--max-drift", "-0.1"],
     2, "not in the range [0, inf]"),
    ("validate_min_ccc_range", ["validate", "{bundle_fake_2s}", "--audio", HELDOUT, "--min-ccc", "-2"], 2,
     "not in the range [-1, 1]"),
    ("validate_labels_not_utf8", ["validate", "{bundle_fake_2s}", "--audio", "{audio_ok}", "--labels",
                                  "{labels_not_utf8}"], 2, "is not UTF-8 text"),
    ("validate_labels_duplicate", ["validate", "{bundle_fake_2s}", "--audio", "{audio_ok}", "--labels",
                                   "{labels_duplicate}"], 2, "labels_dup.csv:4: a second row for clip0.wav"),
    ("validate_bundle_no_tflite", ["validate", "{bundle_no_tflite}", "--audio", "{audio_ok}"], 2,
     "lacks model_int8.tflite"),
    ("validate_malformed_report", ["validate", "{bundle_malformed_report}", "--audio", "{audio_ok}"], 2,
     "report.json: frontend is malformed"),
    ("validate_neither", ["validate", "{dir_neither}", "--audio", "{audio_ok}"], 2,
     "neither a convert bundle"),
    ("validate_json_no_folder", ["validate", "{bundle_fake_2s}", "--audio", "{audio_ok}", "--json",
                                 "{ws}/nodir/x.json"], 2, "does not exist"),
    ("validate_json_is_dir", ["validate", "{bundle_fake_2s}", "--audio", "{audio_ok}", "--json",
                              "{existing_out}"], 2, "is a directory"),
    ("validate_plot_is_file", ["validate", "{bundle_fake_2s}", "--audio", "{audio_ok}", "--plot", "{file}"], 2,
     "is not a directory"),
    ("validate_one_clip", ["validate", "{bundle_fake_2s}", "--audio", "{audio_one_clip}"], 2,
     "CCC needs at least 2"),
    ("validate_jobs_zero", ["validate", "{bundle_fake_2s}", "--audio", "{audio_ok}", "--jobs", "0"], 2, "--jobs"),
    ("validate_layers_checkpoint", ["validate", "{ckpt_bad_amin}", "--audio", "{audio_ok}", "--layers"], 2,
     "--layers needs a bundle folder"),
    ("validate_missing_audio", ["validate", "{bundle_fake_2s}", "--audio", "{ws}/nothing"], 2,
     "audio folder not found"),
    # features
    ("features_window_nan", ["features", CLIP, "--out", "{ws}/x.npy", "--window-seconds", "nan"], 2,
     "not a finite number"),
    ("features_window_inf", ["features", CLIP, "--out", "{ws}/x.npy", "--window-seconds", "inf"], 2,
     "not a finite number"),
    ("features_out_is_dir", ["features", CLIP, "--out", "{dir_named_npy}", "--force"], 2, "is a directory"),
    ("features_out_not_npy", ["features", CLIP, "--out", "{ws}/x.txt"], 2, "--out must end in .npy"),
    ("features_out_no_folder", ["features", CLIP, "--out", "{ws}/nodir/x.npy"], 2, "does not exist"),
    ("features_missing_audio", ["features", "{ws}/nope.wav", "--out", "{ws}/x.npy"], 2, "audio file not found"),
    ("features_broken_audio", ["features", "{audio_broken}/broken.wav", "--out", "{ws}/x.npy"], 2,
     "cannot read audio file"),
    # firmware
    ("firmware_window_and_bundle", ["firmware", "--board", "host", "--bundle", "{bundle_fake_2s}",
                                    "--window-seconds", "0.2", "--out", "{ws}/fw"], 2,
     "--window-seconds and --bundle conflict"),
    ("firmware_out_under_file", ["firmware", "--board", "host", "--bundle", "{bundle_fake_2s}", "--out",
                                 "{bundle_fake_2s}/report.json/fw"], 2, "is not a directory"),
    ("firmware_bundle_no_tflite", ["firmware", "--board", "host", "--bundle", "{bundle_no_tflite}", "--out",
                                   "{ws}/fw"], 2, "lacks model_int8.tflite"),
    ("firmware_does_not_fit", ["firmware", "--board", "nucleo-f411re", "--engine", "tflm", "--bundle",
                               "{bundle_fake_2s}", "--out",
                               "{ws}/fw"], 2, "mcu-toolkit convert --window-seconds 0."),
    ("firmware_psram_wrong_board", ["firmware", "--board", "stm32h743", "--bundle", "{bundle_fake_2s}",
                                    "--psram", "--out", "{ws}/fw"], 2, "--psram applies to esp32-s3 only"),
    ("firmware_w2s_does_not_fit", ["firmware", "--board", "nucleo-f411re", "--bundle", "{bundle_fake_10s}",
                                   "--out", "{ws}/fw"], 2, "front-end window store"),
    ("firmware_w2s_engine_missing", ["firmware", "--board", "host", "--bundle", "{bundle_fake_no_engine}",
                                     "--out", "{ws}/fw"], 2, "--engine tflm"),
    ("firmware_engine_unavailable", ["firmware", "--board", "host", "--bundle", "{bundle_fake_engine_unavailable}",
                                     "--out", "{ws}/fw"], 2, "does not support X); use --engine tflm"),
    ("validate_engine_unavailable", ["validate", "{bundle_fake_engine_unavailable}", "--audio", "{audio_ok}"], 2,
     "does not support X); use --engine tflm"),
    ("validate_qemu_float_frontend", ["validate", "{bundle_fake_float_frontend}", "--audio", "{audio_ok}",
                                      "--device", "qemu-m4"], 2, "needs a bundle with the fixed-point front end"),
    ("validate_qemu_tflm", ["validate", "{bundle_fake_2s}", "--audio", "{audio_ok}", "--device", "qemu-m4",
                            "--engine", "tflm"], 2, "--device qemu-m4 runs the w2s engine"),
    ("firmware_qemu_tflm", ["firmware", "--board", "qemu-f411", "--engine", "tflm", "--bundle", "{bundle_fake_2s}",
                            "--out", "{ws}/fw"], 2, "not available for qemu-f411"),
    ("firmware_psram_w2s", ["firmware", "--board", "esp32-s3", "--psram", "--bundle", "{bundle_fake_2s}",
                            "--out", "{ws}/fw"], 2, "applies to --engine tflm"),
    ("firmware_unknown_board", ["firmware", "--board", "pdp11", "--out", "{ws}/fw"], 2, "--board"),
    ("firmware_out_exists", ["firmware", "--board", "host", "--bundle", "{bundle_fake_2s}", "--out",
                             "{existing_out}"], 2, "already exists; use --force"),
    # --force replaces only an earlier output of the same command, and never an input (issue 19)
    ("convert_out_is_the_checkpoint", ["convert", "{ckpt_zero_f32}", "--out", "{ckpt_zero_f32}", "--force"], 2,
     "is the checkpoint"),
    ("convert_out_holds_the_calibration", ["convert", "--calibration", "{nest}/audio", "--out", "{nest}", "--force"],
     2, "holds the --calibration folder"),
    ("convert_out_is_the_eval_folder", ["convert", "--eval", "{audio_ok}", "--out", "{audio_ok}"], 2,
     "is the --eval folder"),
    ("convert_force_over_a_foreign_folder", ["convert", "--out", "{existing_out}", "--force"], 2,
     "refusing to replace"),
    ("convert_force_over_a_git_repository", ["convert", "--out", "{git_repo}", "--force"], 2,
     "it is not an earlier convert bundle"),
    ("firmware_out_is_the_bundle", ["firmware", "--board", "host", "--bundle", "{bundle_fake_2s}", "--out",
                                    "{bundle_fake_2s}", "--force"], 2, "is the --bundle"),
    ("firmware_force_over_a_foreign_folder", ["firmware", "--board", "host", "--bundle", "{bundle_fake_2s}",
                                              "--out", "{existing_out}", "--force"], 2,
     "it is not an earlier firmware project"),
    ("firmware_force_over_a_bundle", ["firmware", "--board", "host", "--bundle", "{bundle_fake_2s}", "--out",
                                      "{bundle_fake_10s}", "--force"], 2, "it is not an earlier firmware project"),
    ("features_force_over_a_foreign_file", ["features", CLIP, "--out", "{npy_not_ours}", "--force"], 2,
     "it is not an earlier features file"),
    ("validate_json_over_the_labels", ["validate", "{bundle_fake_2s}", "--audio", "{audio_ok}", "--labels",
                                       "{labels_duplicate}", "--json", "{labels_duplicate}"], 2,
     "is the --labels file"),
    ("validate_json_over_a_foreign_file", ["validate", "{bundle_fake_2s}", "--audio", "{audio_ok}", "--json",
                                           "{file}"], 2, "it is not an earlier --json file"),
    # validate writes nothing into the bundle it reads
    ("validate_json_over_the_report", ["validate", "{bundle_fake_2s}", "--audio", "{audio_ok}", "--json",
                                       "{bundle_fake_2s}/report.json"], 2, "is inside"),
    ("validate_json_new_in_the_bundle", ["validate", "{bundle_fake_2s}", "--audio", "{audio_ok}", "--json",
                                         "{bundle_fake_2s}/v.json"], 2, "which validate reads"),
    ("validate_plot_into_the_bundle", ["validate", "{bundle_fake_2s}", "--audio", "{audio_ok}", "--plot",
                                       "{bundle_fake_2s}"], 2, "which validate reads"),
    # corrupt or mixed bundles: one line naming the file
    ("validate_window_zero", ["validate", "{bundle_window_zero}", "--audio", "{audio_ok}"], 2,
     "report.json: window_samples is 0, not an integer"),
    ("validate_window_huge", ["validate", "{bundle_window_huge}", "--audio", "{audio_ok}"], 2,
     "report.json: window_samples is 1000000000000.0, not an integer"),
    ("validate_engine_not_object", ["validate", "{bundle_engine_not_object}", "--audio", "{audio_ok}"], 2,
     'report.json: engine is "w2s", not an object'),
    ("validate_changed_onnx", ["validate", "{bundle_changed_onnx}", "--audio", "{audio_ok}"], 2,
     "model.onnx is not the file this bundle's convert wrote"),
    ("validate_lfs_pointer", ["validate", "{bundle_lfs_tflite}", "--audio", "{audio_ok}"], 2,
     "model_int8.tflite is a Git LFS pointer"),
    ("validate_old_bundle_other_model", ["validate", "{bundle_old_other_model}", "--audio", "{audio_ok}"], 2,
     "model_int8.tflite has 18 B where report.json says 25528 B"),
    ("firmware_window_zero", ["firmware", "--board", "host", "--bundle", "{bundle_window_zero}", "--out",
                              "{ws}/fw"], 2, "window_samples is 0"),
    ("firmware_engine_not_object", ["firmware", "--board", "host", "--bundle", "{bundle_engine_not_object}",
                                    "--out", "{ws}/fw"], 2, 'engine is "w2s"'),
    ("firmware_changed_model", ["firmware", "--board", "host", "--bundle", "{bundle_changed_onnx}", "--out",
                                "{ws}/fw"], 2, "model.onnx is not the file this bundle's convert wrote"),
    ("firmware_lfs_pointer", ["firmware", "--board", "host", "--bundle", "{bundle_lfs_tflite}", "--out",
                              "{ws}/fw"], 2, "model_int8.tflite is a Git LFS pointer"),
    # options and degenerate data
    ("validate_jobs_huge", ["validate", "{bundle_fake_2s}", "--audio", "{audio_ok}", "--jobs", "2147483648"], 2,
     "2147483648 is not in the range 1<=x<=1024"),
    ("convert_silent_calibration", ["convert", "--calibration", "{audio_silence}", "--out", "{ws}/o"], 2,
     "is silent: no clip peaks above -70 dBFS"),
    ("convert_only_hidden_audio", ["convert", "--calibration", "{audio_only_hidden}", "--out", "{ws}/o"], 2,
     "but 1 hidden one(s)"),
    # the group
    ("unknown_command", ["frobnicate"], 2, "No such command"),
    ("unknown_option", ["convert", "--frobnicate"], 2, "No such option"),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build(tmp_path_factory.mktemp("corpus"))


def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    """The console script in-process: its exit code, stdout and stderr."""
    saved = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as e:
            main(argv)
    finally:
        signal.signal(signal.SIGTERM, saved)
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out, out.err


def _argv(template: list[str], corpus: dict, ws) -> list[str]:
    return [a.format(ws=ws, **corpus) for a in template]


# Each of these runs the front end and the float model (2-3 s) to reach a refusal another case already
# reaches the same way (zero weights of another dtype, identical clips after silent ones): slow lane only.
REPEATED = ("convert_zero_weights_i32", "convert_eval_identical")


@pytest.mark.parametrize("name,argv,code,fragment",
                         [pytest.param(*c, id=c[0], marks=[pytest.mark.slow] if c[0] in REPEATED else [])
                          for c in CASES])
def test_bad_input_is_one_line_with_its_exit_code_and_leaves_nothing(name, argv, code, fragment, corpus,
                                                                     tmp_path, monkeypatch, capsys):
    ws, tmpdir = tmp_path / "ws", tmp_path / "tmpdir"
    ws.mkdir()
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    monkeypatch.chdir(ws)
    corpus_root = corpus["file"].parent
    before = tree(corpus_root)
    rc, _, err = run_main(_argv(argv, corpus, ws), capsys)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in err
    assert rc == code, lines[0]
    assert tree(ws) == set() and tree(tmpdir) == set()
    assert tree(corpus_root) == before


@pytest.mark.parametrize("name", ["convert_zero_weights_f32", "validate_labels_not_utf8", "features_window_nan",
                                  "firmware_does_not_fit", "validate_jobs_huge", "firmware_out_is_the_bundle"])
def test_bad_input_as_a_real_process(name, corpus, tmp_path):
    _, argv, code, fragment = next(c for c in CASES if c[0] == name)
    r = run_cli(*_argv(argv, corpus, tmp_path), cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == code and len(lines) == 1 and fragment in lines[0], r.stderr
    assert tree(tmp_path) == set()


def test_firmware_treats_an_undefined_ccc_as_failing(corpus, tmp_path, capsys):
    rc, out, err = run_main(["firmware", "--board", "host", "--bundle", str(corpus["bundle_fake_nan_ccc"]),
                             "--out", str(tmp_path / "fw")], capsys)
    assert rc == 0 and "wrote" in out
    assert "warning: this bundle's int8 model tracks the float model poorly (arousal CCC undefined" in err


def test_constant_labels_are_flagged_because_ccc_against_them_says_nothing():
    import numpy as np

    from mcu_toolkit.verify.validation import constant_label_warnings

    labels = np.array([[0.1, 0.5, 0.3], [0.7, 0.5, 0.3], [0.4, 0.5, 0.3]])
    assert constant_label_warnings(labels) == [
        "the labels' dominance, valence are constant over these 3 files: CCC against a constant is 0 or undefined "
        "whatever the model, so the gates on it say nothing. Check the labels file."]
    assert constant_label_warnings(labels[:, [0, 0, 0]]) == []


def test_silent_calibration_clips_are_named_in_a_warning(corpus, tmp_path):
    import shutil

    from mcu_toolkit.convert import check_inputs

    cal = tmp_path / "cal"
    shutil.copytree(corpus["audio_ok"], cal)
    shutil.copy(corpus["audio_silence"] / "quiet0.wav", cal)
    inp = check_inputs(None, cal, None, 2.0, "fixed")
    assert [m for m in inp.messages if "silent" in m] == [
        "warning: 1 of 4 calibration clip(s) are silent or nearly (peak under -70 dBFS) and calibrate the int8 "
        "ranges on nothing: quiet0.wav"]


@pytest.mark.slow
def test_a_converted_bundle_records_the_sha256_of_every_file(bundle):
    import hashlib
    import json

    from mcu_toolkit.bundle import HASHED, Bundle

    recorded = json.loads((bundle.out / "report.json").read_text())["sha256"]
    on_disk = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in bundle.out.iterdir()
               if p.name in HASHED}
    assert recorded == on_disk and len(on_disk) == len(HASHED)
    assert Bundle.open(bundle.out).notes == []


@pytest.mark.slow
def test_validate_leaves_nothing_in_tmpdir(bundle, tmp_path):
    """onnxruntime wrote a telemetry session file (.ses) into $TMPDIR when imported and per session."""
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    r = run_cli("validate", str(bundle.out), "--audio", str(corpus_audio(tmp_path)), "--jobs", "2", "--quiet",
                env={"TMPDIR": str(tmpdir)})
    assert r.returncode == 0, r.stderr
    assert tree(tmpdir) == set()


@pytest.mark.slow
def test_validate_notes_hidden_files_capped_jobs_and_constant_labels(bundle, tmp_path):
    import os

    audio = corpus_audio(tmp_path)
    (audio / "._clip0.wav").write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")
    labels = tmp_path / "labels.csv"
    labels.write_text("file,arousal,dominance,valence\n" + "".join(
        f"clip{i}.wav,{0.2 * i},{0.3 + 0.1 * i},0.5\n" for i in range(3)))
    jobs = len(os.sched_getaffinity(0)) + 62
    r = run_cli("validate", str(bundle.out), "--audio", str(audio), "--labels", str(labels), "--max-drift", "0.01",
                "--jobs", str(jobs), "--quiet")
    assert r.returncode == 0, r.stderr
    assert f"warning: skipped 1 hidden file(s) in {audio} (names starting with '.'), e.g. ._clip0.wav" in r.stderr
    assert "warning: the labels' valence is constant over these 3 files" in r.stderr
    assert f"note: --jobs {jobs} is more than the" in r.stderr
    assert "Traceback" not in r.stderr


def corpus_audio(tmp_path):
    """Three clips the default model answers differently (the corpus's audio_ok)."""
    import soundfile as sf

    from adversarial import _speechlike

    d = tmp_path / "audio"
    d.mkdir()
    for i in range(3):
        sf.write(d / f"clip{i}.wav", _speechlike(i), 16000)
    return d
