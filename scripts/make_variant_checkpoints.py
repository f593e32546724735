#!/usr/bin/env python3
"""Make Wav2Small checkpoints other than the embedded reference, for accuracy benchmarks of the chain.

    python scripts/make_variant_checkpoints.py OUT_DIR [--quick]

Writes one card-layout folder (config.json + model.safetensors, as save_checkpoint writes it) per variant,
each checked to load with mcu_toolkit.model.load_checkpoint, plus OUT_DIR/variants.json. Every variant is
deterministic from its seed (torch runs on one thread):

  seed3_c16      16 channels, seed 3: brief training on train_reference.py's espeak-ng data and targets
  seed5_c10      10 channels, seed 5: the same brief training
  random_bn      13 channels, seed 9, untrained: BatchNorm running statistics at another scale
                 (running_var log-uniform in [0.05, 20], running_mean ~ N(0, 2^2)) and random affine
                 weight ~ N(1, 0.5^2), bias ~ N(0, 0.5^2)
  other_targets  13 channels, seed 21: brief training on the reference targets permuted and negated,
                 arousal <- high pitch, dominance <- pauses, valence <- dark timbre (low centroid)

--quick shrinks training to a smoke test. Needs espeak-ng; a few minutes on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from train_reference import evaluate, fit, heldout, make_training_set  # noqa: E402

from mcu_toolkit.model import Wav2Small, Wav2SmallConfig, load_checkpoint, save_checkpoint  # noqa: E402


def same_targets(y: np.ndarray) -> np.ndarray:
    return y


def other_targets(y: np.ndarray) -> np.ndarray:
    """Reference targets (brightness, low pitch, fluency) -> (high pitch, pauses, dark timbre), still ~0..1."""
    return np.stack([1 - y[:, 1], 1 - y[:, 2], 1 - y[:, 0]], axis=1).astype(np.float32)


def train(channels: int, seed: int, target_map, utterances: int, epochs: int) -> Wav2Small:
    """train_reference.py's recipe, shortened: CCC + MSE loss, AdamW with one-cycle LR, batch 32."""
    torch.manual_seed(seed)
    x, y = make_training_set(utterances, seed=1000 + seed)
    model = Wav2Small(Wav2SmallConfig(channels=channels))
    with torch.no_grad():
        feats = torch.cat([model.float_logmel(torch.from_numpy(x[i:i + 64])) for i in range(0, len(x), 64)])
    y = torch.from_numpy(target_map(y))
    fit(model, feats, y, epochs, seed)
    return model.eval()


def random_bn(channels: int, seed: int) -> Wav2Small:
    """Untrained, with BatchNorm statistics and affine parameters far from their defaults."""
    torch.manual_seed(seed)
    model = Wav2Small(Wav2SmallConfig(channels=channels))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.copy_(torch.exp(torch.empty(m.num_features).uniform_(np.log(0.05), np.log(20.0))))
                m.running_mean.normal_(0.0, 2.0)
                m.weight.normal_(1.0, 0.5)
                m.bias.normal_(0.0, 0.5)
    return model.eval()


VARIANTS = [  # name, channels, seed, target map (None: untrained), how it is made
    ("seed3_c16", 16, 3, same_targets, "trained briefly on the reference's espeak-ng data and prosody targets"),
    ("seed5_c10", 10, 5, same_targets, "trained briefly on the reference's espeak-ng data and prosody targets"),
    ("random_bn", 13, 9, None, "untrained random init; BatchNorm running stats and affine weights randomised "
                               "(running_var log-uniform [0.05, 20], running_mean N(0, 2^2))"),
    ("other_targets", 13, 21, other_targets, "trained briefly on permuted, negated targets: arousal <- high pitch, "
                                             "dominance <- pauses, valence <- dark timbre"),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--quick", action="store_true", help="tiny training set and 1 epoch (smoke test)")
    args = ap.parse_args()
    utterances, epochs = (64, 1) if args.quick else (384, 8)
    torch.set_num_threads(1)
    wavs, y_ref = heldout()
    described = []
    for name, channels, seed, target_map, how in VARIANTS:
        t0 = time.time()
        if target_map is None:
            model = random_bn(channels, seed)
        else:
            model = train(channels, seed, target_map, utterances, epochs)
        seconds = time.time() - t0
        folder = args.out_dir / name
        save_checkpoint(model, folder, extra_config={"description": f"mcu-toolkit benchmark variant: {how}",
                                                     "trained_by": "scripts/make_variant_checkpoints.py"})
        loaded = load_checkpoint(folder)
        ccc, pred = evaluate(loaded, wavs, y_ref if target_map is None else target_map(y_ref))
        std = pred.std(axis=0)
        if not np.all(std > 1e-4):
            raise SystemExit(f"{name}: outputs hardly vary over the held-out clips (std {std})")
        score = "n/a (untrained)" if target_map is None else " ".join(f"{k[0]}={v:.3f}" for k, v in ccc.items())
        print(f"{name}: {seconds:.0f} s, held-out float CCC {score}, std "
              + " ".join(f"{s:.4f}" for s in std), flush=True)
        described.append({"name": name, "channels": channels, "seed": seed, "made": how,
                          "training_seconds": round(seconds, 1),
                          "heldout_ccc": None if target_map is None else {k: round(v, 4) for k, v in ccc.items()},
                          "heldout_std": [round(float(s), 5) for s in std]})
    (args.out_dir / "variants.json").write_text(json.dumps(described, indent=2) + "\n")


if __name__ == "__main__":
    main()
