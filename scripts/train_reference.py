#!/usr/bin/env python3
"""Train the reference Wav2Small shipped as the embedded default.

    python scripts/train_reference.py [--utterances 1600] [--epochs 30]

It learns measured prosody targets (scripts/reference_data.py:targets) from espeak-ng speech made here,
so that its outputs respond to the audio and drift figures mean something. It is a reference for the
toolchain, not an emotion recogniser. Needs espeak-ng; about 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from make_calibration_audio import CAL_SENTENCES  # noqa: E402
from reference_data import SR, espeak, finish, random_params, targets  # noqa: E402

from mcu_toolkit.model import Wav2Small, save_checkpoint  # noqa: E402
from mcu_toolkit.verify.ccc import ccc_per_dim  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WINDOW = 2 * SR


def make_training_set(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for i in range(n):
        p = random_params(rng, sentences=CAL_SENTENCES)
        pcm = finish(espeak(p), p.peak_dbfs, rng)
        if len(pcm) < WINDOW:  # pad with a matching noise floor rather than digital silence
            floor = rng.standard_normal(WINDOW - len(pcm)) * 10 ** ((p.peak_dbfs - 72) / 20) * 32767
            pcm = np.concatenate([pcm, np.round(floor).astype(np.int16)])
        start = int(rng.integers(0, len(pcm) - WINDOW + 1))
        crop = pcm[start:start + WINDOW]
        xs.append(crop.astype(np.float32) / 32768.0)
        ys.append(targets(crop.astype(np.float64)))
        if (i + 1) % 200 == 0:
            print(f"  synthesised {i + 1}/{n}", flush=True)
    return np.stack(xs), np.stack(ys)


def heldout() -> tuple[list[np.ndarray], np.ndarray]:
    d = ROOT / "calibration_audio" / "heldout"
    wavs, ys = [], []
    with open(d / "targets.csv") as f:
        for row in csv.DictReader(f):
            x, _ = sf.read(d / row["file"], dtype="float32")
            wavs.append(x)
            ys.append([float(row[k]) for k in ("arousal", "dominance", "valence")])
    return wavs, np.array(ys)


def ccc_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    mp, mt = pred.mean(0), target.mean(0)
    vp, vt = pred.var(0, unbiased=False), target.var(0, unbiased=False)
    cov = ((pred - mp) * (target - mt)).mean(0)
    return (1 - 2 * cov / (vp + vt + (mp - mt) ** 2 + 1e-8)).mean()


def evaluate(model: Wav2Small, wavs, ys) -> tuple[dict, np.ndarray]:
    model.eval()
    with torch.no_grad():
        pred = np.stack([model(torch.from_numpy(w)[None])[0].numpy() for w in wavs])
    return ccc_per_dim(pred, ys), pred


def fit(model: Wav2Small, feats: torch.Tensor, y: torch.Tensor, epochs: int, seed: int, on_epoch=None) -> None:
    """The recipe: CCC + MSE loss, AdamW with a one-cycle LR, batches of 32 in a seeded order.
    on_epoch(epoch, mean loss) runs after each epoch."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=epochs * ((len(feats) + 31) // 32))
    g = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        total = 0.0
        for idx in torch.randperm(len(feats), generator=g).split(32):
            pred = model.trunk(feats[idx])
            loss = ccc_loss(pred, y[idx]) + torch.nn.functional.mse_loss(pred, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if on_epoch is not None:
            on_epoch(epoch, total / len(feats))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--utterances", type=int, default=1600)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "mcu_toolkit" / "assets" / "wav2small_reference")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(os.cpu_count() or 1)
    t0 = time.time()
    print("synthesising training audio", flush=True)
    x, y = make_training_set(args.utterances, seed=1000 + args.seed)
    model = Wav2Small()
    with torch.no_grad():
        feats = torch.cat([model.float_logmel(torch.from_numpy(x[i:i + 64])) for i in range(0, len(x), 64)])
    y = torch.from_numpy(y)
    wavs, yh = heldout()

    def report(epoch: int, mean_loss: float) -> None:
        if epoch % 5 == 4 or epoch == args.epochs - 1:
            c, _ = evaluate(model, wavs, yh)
            print(f"epoch {epoch + 1}: loss {mean_loss:.4f}  held-out CCC "
                  + " ".join(f"{k[0]}={v:.3f}" for k, v in c.items()), flush=True)

    fit(model, feats, y, args.epochs, args.seed, report)
    c, pred = evaluate(model, wavs, yh)
    std = pred.std(axis=0)
    save_checkpoint(model.eval(), args.out, extra_config={
        "description": "mcu-toolkit reference Wav2Small: predicts measured prosody stand-ins "
                       "(arousal<-brightness, dominance<-low pitch, valence<-fluency). Not an emotion model.",
        "trained_by": "scripts/train_reference.py",
        "heldout_ccc": {k: round(v, 4) for k, v in c.items()},
        "heldout_std": {k: round(float(s), 4) for k, s in zip(("arousal", "dominance", "valence"), std)},
    })
    print(f"held-out CCC {c}, std {std}, {time.time() - t0:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
