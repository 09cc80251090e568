"""Sanity probe of the synthetic benchmark: can RGB alone, events alone, or both tell the classes?

A linear probe (logistic regression on down-sampled pixels of the 5 RGB frames and/or the 5
event images) is trained on ``train`` and scored on ``test``, for the full class and for each
part of it (colour, digit, motion, and the motion's axis: horizontal or vertical). Events should
fail on colour; RGB on digit shape and on the direction of motion (its frames are the same
whichever way the belt runs, though a streak may still show the axis); both together should beat
either. ``both`` is early fusion (one probe on the concatenated pixels);
``late`` multiplies the class probabilities of the RGB and event probes (a product of experts:
the two sensors fail independently).

    python bench/synthetic_probe.py /tmp/synth --size small --seed 0
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from evclip.datasets.synthetic import SyntheticConfig, build_synthetic_benchmark
from evclip.datasets.synthetic_render import MOTION_DIRECTIONS


def _features(root: Path, rel: str, kind: str, side: int) -> np.ndarray:
    sample = rel.split("/")[1]
    folder = root / rel / f"{sample}_{kind}"
    frames = []
    for path in sorted(folder.iterdir()):
        image = Image.open(path).convert("RGB").resize((side, side), Image.BILINEAR)
        frames.append(np.asarray(image, dtype=np.float32) / 255.0)
    return np.concatenate([f.reshape(-1) for f in frames])


def _load(root: Path, split: str, side: int):
    rows = [line.split() for line in (root / f"{split}_label.txt").read_text().splitlines()]
    rgb = np.stack([_features(root, r[0], "aps", side) for r in rows])
    dvs = np.stack([_features(root, r[0], "dvs", side) for r in rows])
    return rgb, dvs, np.array([int(r[2]) for r in rows])


def probe(root: Path, side: int = 16) -> dict[str, dict[str, float]]:
    """Accuracy of a linear probe per modality and per class part."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    manifest = json.loads((root / "manifest.json").read_text())
    config = manifest["config"]
    combos = [
        (c, d, m, MOTION_DIRECTIONS[m][0] != 0)  # the last part: moving along x (the axis)
        for c in config["colours"]
        for d in config["digits"]
        for m in config["motions"]
    ]
    train, test = _load(root, "train", side), _load(root, "test", side)
    inputs = {
        "rgb": (train[0], test[0]),
        "events": (train[1], test[1]),
        "both": (np.hstack(train[:2]), np.hstack(test[:2])),
    }
    log_probs: dict[str, np.ndarray] = {}
    classes = np.unique(train[2])
    for name, (x_train, x_test) in inputs.items():
        scaler = StandardScaler().fit(x_train)
        model = LogisticRegression(C=0.05, max_iter=2000)
        model.fit(scaler.transform(x_train), train[2])
        log_probs[name] = model.predict_log_proba(scaler.transform(x_test))  # [N, classes]
    log_probs["late"] = log_probs["rgb"] + log_probs["events"]
    results: dict[str, dict[str, float]] = {}
    for name, scores_per_class in log_probs.items():
        predicted = classes[np.argmax(scores_per_class, axis=1)]
        scores = {"class": float(np.mean(predicted == test[2]))}
        for part, j in (("colour", 0), ("digit", 1), ("motion", 2), ("axis", 3)):
            hits = [combos[p][j] == combos[t][j] for p, t in zip(predicted, test[2], strict=True)]
            scores[part] = float(np.mean(hits))
        results[name] = scores
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("--size", choices=("small", "full"), default="small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    build_synthetic_benchmark(args.root, size=args.size, seed=args.seed, workers=args.workers)
    print(f"build: {time.perf_counter() - started:.1f} s")
    n_classes = len(SyntheticConfig.for_size(args.size).class_combos())
    results = probe(Path(args.root))
    parts = ("class", "colour", "digit", "motion", "axis")
    print(f"{'input':8s} " + " ".join(f"{k:>7s}" for k in parts) + f"  ({n_classes} classes)")
    for name, scores in results.items():
        print(f"{name:8s} " + " ".join(f"{scores[k]:7.3f}" for k in parts))


if __name__ == "__main__":
    main()
