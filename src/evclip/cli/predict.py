"""``evclip predict --checkpoint PATH --rgb FRAMES --events FILE``: top-5 classes of one clip.

PATH is a model folder (``<run>/model``) or a run folder. The frames and events are turned into
the model's inputs the way its dataset made evaluation samples (frames at segment centres, event
images rendered with the model's representation and slicing). ``--events`` may also be a folder
of event images. Prints JSON: the classes with their probabilities, best first.
"""

from __future__ import annotations

import argparse
import json


def run(args: argparse.Namespace) -> int:
    import torch

    from evclip.engine.data import move_batch
    from evclip.engine.inference import load_model, load_recording, preprocessing_for, top_classes

    loaded = load_model(None, args.checkpoint, device=args.device)
    if loaded.class_names is None:
        raise ValueError(f"{args.checkpoint}: the model does not record its class names")
    batch = load_recording(preprocessing_for(loaded), rgb=args.rgb, events=args.events)
    with torch.no_grad():
        logits = loaded.method.predict(move_batch(batch, torch.device(args.device)))
    result = {
        "model": loaded.source,
        "rgb": args.rgb,
        "events": args.events,
        "top": top_classes(logits[0], loaded.class_names, args.top),
    }
    print(json.dumps(result, indent=1))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="top-5 classes (with probabilities) of one clip: RGB frames and/or an event file",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("--checkpoint", required=True, help="model folder or run folder")
    parser.add_argument("--rgb", default=None, help="folder of RGB frames (PNG/JPG)")
    parser.add_argument("--events", default=None, help="event file, or folder of event images")
    parser.add_argument("--top", type=int, default=5, help="how many classes to list (5)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu)")
    parser.set_defaults(func=run)
