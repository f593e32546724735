"""Checkpoint loading: every supported layout round-trips; every bad checkpoint is one clear error."""

import json
import pickle

import pytest
import torch
from safetensors.torch import load_file, save_file

from mcu_toolkit import resources
from mcu_toolkit.errors import ToolkitError
from mcu_toolkit.model import load_checkpoint, save_checkpoint

from conftest import run_cli


@pytest.fixture(scope="module")
def sd():
    return load_file(str(resources.default_checkpoint() / "model.safetensors"))


def _same(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_card_key_layout(sd):
    assert "vgg7.l1.conv.weight" in sd and "adv.bias" in sd
    assert "vgg7.l7.norm.num_batches_tracked" in sd
    assert "vgg7.spectrogram_extractor.conv_imag.weight" in sd and "vgg7.logmel_extractor.amin" in sd
    assert len(sd) == 52


def test_round_trip_folder_safetensors_and_pt(tmp_path, default_model, sd):
    save_checkpoint(default_model, tmp_path / "hf")
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["channels"] == 13
    assert _same(load_checkpoint(tmp_path / "hf"), default_model)

    save_file(sd, str(tmp_path / "bare.safetensors"))
    assert _same(load_checkpoint(tmp_path / "bare.safetensors"), default_model)

    torch.save(sd, tmp_path / "sd.pt")
    assert _same(load_checkpoint(tmp_path / "sd.pt"), default_model)
    torch.save({"state_dict": sd}, tmp_path / "wrapped.pt")
    assert _same(load_checkpoint(tmp_path / "wrapped.pt"), default_model)


def test_wider_variant_loads(tmp_path):
    from mcu_toolkit.model import Wav2Small, Wav2SmallConfig

    m = Wav2Small(Wav2SmallConfig(channels=32, n_mels=40))
    save_checkpoint(m, tmp_path / "wide")
    got = load_checkpoint(tmp_path / "wide")
    assert got.config.channels == 32 and got.config.n_mels == 40


def _bad(tmp_path, sd, mutate, suffix=".safetensors"):
    d = dict(sd)
    mutate(d)
    p = tmp_path / f"bad{suffix}"
    if suffix == ".pt":
        torch.save(d, p)
    else:
        save_file(d, str(p))
    return p


def _nan(d):
    d["vgg7.l3.conv.weight"] = d["vgg7.l3.conv.weight"].clone()
    d["vgg7.l3.conv.weight"][0, 0, 0, 0] = float("nan")


def _inf(d):
    d["adv.bias"] = d["adv.bias"].clone()
    d["adv.bias"][1] = float("inf")


BAD_CASES = {
    "missing": (lambda d: d.pop("vgg7.l5.norm.running_var"), "missing keys: vgg7.l5.norm.running_var"),
    "missing_shape_key": (lambda d: d.pop("vgg7.l1.conv.weight"), "missing keys: vgg7.l1.conv.weight"),
    "extra": (lambda d: d.__setitem__("vgg7.l8.conv.weight", torch.zeros(3)), "unexpected keys: vgg7.l8.conv.weight"),
    "shape": (lambda d: d.__setitem__("adv.weight", torch.zeros(3, 300)), "adv.weight has shape (3, 300)"),
    "nan": (_nan, "vgg7.l3.conv.weight contains NaN or Inf"),
    "inf": (_inf, "adv.bias contains NaN or Inf"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_bad_checkpoint_names_the_problem(tmp_path, sd, case, suffix):
    mutate, expected = BAD_CASES[case]
    p = _bad(tmp_path, sd, mutate, suffix)
    with pytest.raises(ToolkitError) as e:
        load_checkpoint(p)
    assert expected in str(e.value)
    assert e.value.exit_code == 2


def test_unreadable_files(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ToolkitError, match="not a valid safetensors file"):
        load_checkpoint(junk)
    pt = tmp_path / "junk.pt"
    pt.write_bytes(b"not a zip")
    with pytest.raises(ToolkitError, match="cannot read checkpoint"):
        load_checkpoint(pt)
    with pytest.raises(ToolkitError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope")
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(ToolkitError, match="has no model.safetensors"):
        load_checkpoint(tmp_path / "empty_dir")
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"x")
    with pytest.raises(ToolkitError, match="unsupported checkpoint"):
        load_checkpoint(onnx)


def test_bad_config_json(tmp_path, default_model):
    save_checkpoint(default_model, tmp_path / "hf")
    (tmp_path / "hf" / "config.json").write_text("{not json")
    with pytest.raises(ToolkitError, match="invalid JSON"):
        load_checkpoint(tmp_path / "hf")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_code_is_refused(tmp_path, capsys):
    p = tmp_path / "evil.pt"
    with open(p, "wb") as f:
        pickle.dump({"x": _Evil()}, f)
    with pytest.raises(ToolkitError, match="cannot read checkpoint"):
        load_checkpoint(p)
    assert "pwned" not in capsys.readouterr().out


@pytest.mark.parametrize("case", ["nan", "missing", "shape"])
def test_cli_bad_checkpoint_one_line_exit_2_no_output(tmp_path, sd, case):
    p = _bad(tmp_path, sd, BAD_CASES[case][0])
    out = tmp_path / "out"
    r = run_cli("convert", str(p), "--out", str(out), "--quiet")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and BAD_CASES[case][1] in lines[0]
    assert "Traceback" not in r.stderr
    assert not out.exists()
