"""``evclip eval``: top-1, top-5 and mean per-class accuracy of a model on a dataset split.

Three ways to name the model::

    evclip eval runs/safe_poker                     a run (its best/latest model), or a model folder
    evclip eval CONFIG --checkpoint PATH            a config plus a checkpoint or model folder
    evclip eval --method eventclip --dataset ncaltech101 --root DIR [--model M] [windows=3]

``key=value`` pairs without a dot are builder arguments of ``--method``; dotted pairs
(``data.num_frames=3``) override the config. Prints JSON; with ``--out DIR`` also writes
metrics.json, per_class.md and confusion.png there.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _config_for_method(args: argparse.Namespace, overrides: list[str]):
    from evclip.engine.config import load_config

    return load_config(None, [f"method.name={args.method}", *overrides])


def _apply_data_flags(args: argparse.Namespace, overrides: list[str]) -> list[str]:
    out = list(overrides)
    for flag, key in (("dataset", "data.dataset"), ("root", "data.root"),
                      ("batch_size", "data.eval_batch_size"), ("num_workers", "data.num_workers"),
                      ("device", "run.device")):  # fmt: skip
        value = getattr(args, flag)
        if value is not None:
            out.append(f"{key}={value}")
    return out


def split_of(args: argparse.Namespace, config) -> str:
    """``--split``, else the config's test split, else ``test``."""
    return args.split or config.data.test_split or "test"


def run(args: argparse.Namespace) -> int:
    from evclip.engine import distributed as D
    from evclip.engine.data import build_dataset, class_names_of
    from evclip.engine.inference import (
        evaluate_split,
        load_model,
        split_overrides,
        training_free_model,
    )
    from evclip.engine.metrics import summary

    pairs = list(args.pairs)
    if args.source is not None and "=" in args.source and not Path(args.source).exists():
        pairs.insert(0, args.source)  # argparse put the first key=value pair in SOURCE
        args.source = None
    method_args, overrides = split_overrides(pairs)
    overrides = _apply_data_flags(args, overrides)
    if args.method is not None:
        if args.source is not None or args.checkpoint is not None:
            raise ValueError("--method builds a training-free model: drop SOURCE/--checkpoint")
        config = _config_for_method(args, overrides)
        if not config.data.dataset:
            raise ValueError("--method needs --dataset NAME and --root DIR")
        dataset = build_dataset(config.data, split_of(args, config), train=False)
        method = training_free_model(
            args.method, method_args, model=args.model, class_names=class_names_of(dataset)
        )
        names, source = None, f"method {args.method}"
    else:
        if method_args:
            raise ValueError(
                f"plain key=value pairs ({', '.join(method_args)}) need --method; "
                "override a config with dotted keys such as data.root=DIR"
            )
        if args.source is None and args.checkpoint is None:
            raise ValueError("give a run or model folder, CONFIG --checkpoint PATH, or --method")
        dataset = None
        loaded = load_model(args.source, args.checkpoint, overrides)
        config, method = loaded.config, loaded.method
        names, source = loaded.class_names, loaded.source
    split = split_of(args, config)
    metrics, predictions, dataset = evaluate_split(
        method, config, split, class_names=names, progress=not args.quiet, dataset=dataset
    )
    result = {"model": source, "dataset": config.data.dataset, "split": split, **summary(metrics)}
    if D.is_main_process():
        if args.out is not None:
            _write_outputs(Path(args.out), metrics, result, predictions, dataset)
        print(json.dumps(result, indent=1))
    D.close_distributed()  # started by evaluate_split under torchrun
    return 0


def _write_outputs(out: Path, metrics, result, predictions, dataset) -> None:
    from evclip.engine.experiment import write_plots
    from evclip.engine.metrics import per_class_table

    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps({**result, "metrics": metrics}, indent=1))
    (out / "per_class.md").write_text(per_class_table(metrics) + "\n")
    names = [row["name"] for row in metrics["per_class"]]
    write_plots(out, None, metrics, predictions, dataset, names)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a trained model (run/model folder, or CONFIG --checkpoint) or a "
        "training-free method on a dataset split",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "source",
        nargs="?",
        default=None,
        help="run folder, model folder, or experiment config (path or name)",
    )
    parser.add_argument("pairs", nargs="*", help="key=value: method arguments or config overrides")
    parser.add_argument("--checkpoint", default=None, help="checkpoint, run or model folder")
    parser.add_argument("--method", default=None, help="a training-free method (e.g. eventclip)")
    parser.add_argument("--model", default=None, help="backbone of --method (e.g. a CLIP hub id)")
    parser.add_argument("--dataset", default=None, help="registered dataset name")
    parser.add_argument("--root", default=None, help="dataset folder")
    parser.add_argument("--split", default=None, help="split to evaluate (default: test)")
    parser.add_argument("--batch-size", type=int, default=None, help="evaluation batch size")
    parser.add_argument("--num-workers", type=int, default=None, help="DataLoader workers")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None)
    parser.add_argument("--out", default=None, help="folder for metrics.json and confusion.png")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)
