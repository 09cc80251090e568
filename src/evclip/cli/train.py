"""``evclip train CONFIG [key.sub=value ...]``: train a method as an experiment file says.

CONFIG is a YAML path or the name of a config shipped with evclip (``evclip train
safe_vitb16_poker data.root=/data/PokerEvent``). Under torchrun every process runs this command
(``torchrun --nproc_per_node=2 $(which evclip) train ...``); only the first logs and saves.
Prints the run's results as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def run(args: argparse.Namespace) -> int:
    from evclip.engine import distributed as D
    from evclip.engine.config import load_config
    from evclip.engine.experiment import train_experiment
    from evclip.engine.trainer import NonFiniteLossError, TrainingInterrupted

    overrides = list(args.overrides)
    resume = args.resume
    if isinstance(resume, str) and "=" in resume and not Path(resume).exists():
        overrides.append(resume)  # "--resume key=value": the pair is an override, not a path
        resume = True
    if args.out is not None:
        overrides.append(f"run.out_dir={args.out}")
    if args.quiet:
        overrides.append("run.progress=false")
    config = load_config(args.config, overrides)
    try:
        results = train_experiment(config, resume=resume)
    except NonFiniteLossError as err:
        print(f"evclip train: error: {err}", file=sys.stderr)
        return 1
    except TrainingInterrupted as err:
        out = config.run.out_dir
        print(f"evclip train: {err}; continue with: evclip train {args.config} ... --out {out} "
              "--resume", file=sys.stderr)  # fmt: skip
        return 130
    if D.is_main_process():
        print(json.dumps(results, indent=1))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a method from an experiment file (YAML path or shipped config name)",
        description="Train a method. Settings come from CONFIG and key.sub=value overrides, "
        "e.g. optim.lr=1e-4 data.root=/data/HARDVS run.out_dir=runs/x.",
    )
    parser.add_argument("config", help="experiment YAML file, or the name of a shipped config")
    parser.add_argument("overrides", nargs="*", help="key.sub=value settings (values are YAML)")
    parser.add_argument(
        "--resume", nargs="?", const=True, default=None, metavar="CHECKPOINT",
        help="continue from run.out_dir's latest checkpoint, or from CHECKPOINT",
    )  # fmt: skip
    parser.add_argument("--out", default=None, help="output folder (same as run.out_dir=...)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)
