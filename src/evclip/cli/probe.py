"""``evclip probe CONFIG [key.sub=value ...]``: linear probes on a frozen backbone's features.

Fits a logistic regression on the training split's cached features (``C`` chosen on the
validation split, the test split only scored), with every frame's tokens in order and with
tokens averaged over frames. Run it beside ``evclip train`` of the same config: when the
trained head is no better than the probe, the frozen features, not the head, limit the result.
Prints the results as JSON.
"""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> int:
    from evclip.engine.config import load_config
    from evclip.engine.probe import linear_probe

    overrides = list(args.overrides)
    if args.quiet:
        overrides.append("run.progress=false")
    config = load_config(args.config, overrides)
    results = linear_probe(config, tuple(args.pooling), cs=tuple(args.c))
    print(json.dumps([r.to_dict() for r in results], indent=1))
    return 0


#: evclip.engine.probe's choices, here so that building the parser imports no torch
POOLINGS = ("frames", "mean")
DEFAULT_CS = (0.01, 0.1, 1.0, 10.0)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "probe",
        help="linear probes on a frozen backbone's cached features (how much the inputs hold)",
        description="Fit logistic-regression probes on the cached features of CONFIG's frozen "
        "backbone: C chosen on data.val_split, data.test_split only scored.",
    )
    parser.add_argument("config", help="experiment YAML file, or the name of a shipped config")
    parser.add_argument("overrides", nargs="*", help="key.sub=value settings (values are YAML)")
    parser.add_argument(
        "--pooling", nargs="+", choices=POOLINGS, default=list(POOLINGS),
        help="frames: every frame's tokens in order; mean: averaged over frames (both)",
    )  # fmt: skip
    parser.add_argument(
        "--c", nargs="+", type=float, default=list(DEFAULT_CS),
        help=f"inverse regularisation strengths to choose from ({' '.join(map(str, DEFAULT_CS))})",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)
