"""EventCLIP's training-free zero-shot recognition of event streams (method ``eventclip``).

The recipe (Wu et al., EventCLIP; see ``../shared/METHODS.md`` section 4): the stream is
re-centred on the sensor, cut into K windows of equal event count, each window becomes a grey
two-polarity histogram on white (``evclip.representations`` mode ``"eventclip_grey"``: hot pixels
above mean + 10 std zeroed, max-normalised, grey blended onto white), a frozen CLIP image tower
embeds every window, and the class logits are averaged over the K windows. The text side is a
template ensemble built by :func:`evclip.prompts.zero_shot_classifier`.

Two departures from the authors' code, both deliberate: image features are L2-normalised before
the logits (EventCLIP scales un-normalised features), and the windows are deterministic (equal
event-count slices of the whole stream) instead of random views, so the same input always gets
the same answer.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from evclip.io import EventStream
from evclip.models import METHODS
from evclip.representations import EVENT_IMAGE_MODES, event_images

#: The backbone the method loads when none is named: the offline tiny CLIP shipped with evclip.
DEFAULT_MODEL = "evclip-tiny-bench"
#: EventCLIP's prompt.
DEFAULT_TEMPLATES = ("a point cloud image of a {}.",)
#: EventCLIP's event image: grey two-polarity histogram on white.
DEFAULT_MODE = "eventclip_grey"
#: How a stream can be cut into windows (see :func:`evclip.representations.event_images`).
SLICINGS = ("count", "time", "afe")
#: How many windows a stream is cut into (EventCLIP averages up to two views).
DEFAULT_WINDOWS = 2


def recentre_events(events: np.ndarray, sensor_size: tuple[int, int]) -> np.ndarray:
    """Shift events so that the centre of their bounding box is the centre of the sensor.

    EventCLIP's ``center_events``: a small object recorded in one corner would otherwise be cut
    away by CLIP's centre crop. The shift is ``floor((min + max + 1 - size) / 2)`` per axis, which
    keeps every event inside the sensor. Returns a new array; the input is not modified.

    Args:
        events: structured events array (fields x, y, t, p).
        sensor_size: (width, height).

    Returns:
        The shifted events, same dtype and order.
    """
    out = events.copy()
    if len(out) == 0:
        return out
    for name, size in (("x", int(sensor_size[0])), ("y", int(sensor_size[1]))):
        low, high = int(out[name].min()), int(out[name].max())
        shift = (low + high + 1 - size) // 2  # floor division, as EventCLIP's float // 2.
        if shift:
            moved = out[name].astype(np.int64) - shift
            out[name] = np.clip(moved, 0, size - 1).astype(out[name].dtype)
    return out


def window_event_images(
    stream: EventStream,
    windows: int,
    *,
    mode: str = DEFAULT_MODE,
    slicing: str = "count",
    recentre: bool = True,
) -> np.ndarray:
    """Cut a stream into ``windows`` deterministic windows and render one event image each.

    Args:
        stream: the events and their sensor size.
        windows: K, at least 1.
        mode: an event image mode of :func:`evclip.representations.event_image`.
        slicing: ``"count"`` (equal event counts, the default), ``"time"`` (equal durations) or
            ``"afe"``; see :func:`evclip.representations.event_images`.
        recentre: re-centre the events on the sensor first (:func:`recentre_events`).

    Returns:
        uint8 [K, H, W, 3].
    """
    if windows < 1:
        raise ValueError(f"the number of windows must be at least 1, got {windows}")
    events = stream.events
    if recentre:
        events = recentre_events(events, stream.sensor_size)
    return event_images(events, stream.sensor_size, windows, mode=mode, slicing=slicing)


def _clean_names(names: Sequence[str]) -> list[str]:
    """Names with runs of blanks made single spaces; ValueError for a string or an empty name."""
    if isinstance(names, str):
        raise ValueError(f"class names must be a list of strings, got the string {names!r}")
    cleaned = [" ".join(str(name).split()) for name in names]
    if not cleaned:
        raise ValueError("the list of class names is empty")
    for i, name in enumerate(cleaned):
        if not name:
            raise ValueError(f"label {i + 1} of {len(cleaned)} is empty")
    return cleaned


def _unique_names(names: Sequence[str]) -> tuple[list[str], list[int]]:
    """(names without repeats up to case, index of each name's first occurrence among them)."""
    first: dict[str, int] = {}
    unique: list[str] = []
    index = []
    for name in names:
        key = name.casefold()
        if key not in first:
            first[key] = len(unique)
            unique.append(name)
        index.append(first[key])
    return unique, index


def check_labels(names: Sequence[str]) -> list[str]:
    """User-given labels with surrounding blanks removed, after checking they can be told apart.

    Raises:
        ValueError: for a single label, an empty one, or two labels equal up to case and
            spacing (they would get the same text embedding).
    """
    cleaned = _clean_names(names)
    if len(cleaned) < 2:
        raise ValueError(f"zero-shot recognition needs at least two labels, got {cleaned}")
    seen: dict[str, int] = {}
    for i, name in enumerate(cleaned):
        key = name.casefold()
        if key in seen:
            first = cleaned[seen[key]]
            raise ValueError(
                f"duplicate label {name!r} (labels {seen[key] + 1} {first!r} and {i + 1}); "
                "every label must differ"
            )
        seen[key] = i
    return cleaned


def _blank_frames(images: torch.Tensor) -> torch.Tensor:
    """bool [N]: images whose pixels are all equal (a window without events)."""
    flat = images.reshape(images.shape[0], -1)
    return (flat == flat[:, :1]).all(dim=1)


def _frame_weights(images: torch.Tensor) -> torch.Tensor:
    """float [B, T] averaging weights over each sample's T frames; blank frames get none.

    A blank frame (no event in its window, or padding) carries no evidence, and its logits
    would pull every sample towards whichever class an empty image happens to favour. A sample
    whose frames are all blank keeps equal weights.
    """
    batch, frames = images.shape[:2]
    blank = _blank_frames(images.reshape(batch * frames, *images.shape[2:])).view(batch, frames)
    keep = (~blank).float()
    keep[keep.sum(dim=1) == 0] = 1.0
    return keep / keep.sum(dim=1, keepdim=True)


class EventClip(nn.Module):
    """Frozen CLIP on event images, with a template-ensemble text classifier.

    Args:
        clip: a :class:`evclip.backbones.ClipBackbone`; frozen here.
        templates: prompt templates with one ``{}`` each.
        event_image_mode: how streams are rendered by :meth:`render_stream`; datasets render
            their own ``batch["events"]`` (pass this as their ``representation``).
        windows: K, the number of windows :meth:`render_stream` cuts a stream into.
        slicing: how a stream is cut (``"count"``, ``"time"`` or ``"afe"``).
        recentre: re-centre streams on the sensor before rendering.
        descriptions: per-class sentences for :func:`evclip.prompts.zero_shot_classifier`.
        class_names: names to build the classifier for now (else call :meth:`set_classes`).
    """

    #: The method has nothing to train; engines can check this before building an optimiser.
    trainable = False

    def __init__(
        self,
        clip: nn.Module,
        *,
        templates: Sequence[str] = DEFAULT_TEMPLATES,
        event_image_mode: str = DEFAULT_MODE,
        windows: int = DEFAULT_WINDOWS,
        slicing: str = "count",
        recentre: bool = True,
        descriptions: Mapping[str, Sequence[str]] | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        if event_image_mode not in EVENT_IMAGE_MODES:
            known = ", ".join(EVENT_IMAGE_MODES)
            raise ValueError(f"unknown event image mode {event_image_mode!r}; known: {known}")
        if windows < 1:
            raise ValueError(f"windows must be at least 1, got {windows}")
        if slicing not in SLICINGS:
            raise ValueError(f"slicing must be one of {', '.join(SLICINGS)}, got {slicing!r}")
        self.clip = clip
        self.clip.freeze("all")
        self.clip.eval()
        self.templates = list(templates)
        self.event_image_mode = event_image_mode
        self.windows = int(windows)
        self.slicing = slicing
        self.recentre = recentre
        self.descriptions = descriptions
        self.class_names: list[str] = []
        empty = torch.zeros(0, clip.embed_dim, device=clip.logit_scale.device)
        self.register_buffer("class_embeddings", empty, persistent=False)
        if class_names is not None:
            self.set_classes(class_names)

    def train(self, mode: bool = True) -> EventClip:
        """Keep the frozen backbone in evaluation mode whatever the engine asks."""
        super().train(mode)
        self.clip.eval()
        return self

    @property
    def device(self) -> torch.device:
        return self.class_embeddings.device

    @torch.no_grad()
    def set_classes(self, names: Sequence[str]) -> None:
        """Build the normalised class embeddings [C, D] for ``names`` (template ensemble).

        Names equal up to case and spacing (a dataset's list may hold some: N-ImageNet has two
        "crane" classes, PokerEvent two "Jellyfish") share one embedding, so they get equal
        logits; a warning names them. User-given labels are checked strictly instead
        (:func:`check_labels`, used by :func:`zeroshot_stream` and ``evclip zeroshot``).
        """
        from evclip.prompts import zero_shot_classifier

        names = _clean_names(names)
        unique, index = _unique_names(names)
        if len(unique) < len(names):
            counts = np.bincount(index)
            repeated = sorted({name for name, i in zip(names, index, strict=True) if counts[i] > 1})
            warnings.warn(
                f"eventclip: class names {repeated} repeat (up to case); they share one text "
                "embedding and cannot be told apart",
                stacklevel=2,
            )
        weights = zero_shot_classifier(self.clip, unique, self.templates, self.descriptions)
        rows = torch.as_tensor(index, device=weights.device)
        self.class_embeddings = weights.detach()[rows].float().to(self.device)  # (C, D)
        self.class_names = names

    @torch.no_grad()
    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised CLIP features of uint8 images [N, 3, H, W] (or [N, H, W, 3]) -> [N, D]."""
        pixels = self.clip.preprocess(images)  # on the backbone's device and dtype
        features = self.clip.encode_image(pixels, normalize=False).float()
        return features / features.norm(dim=-1, keepdim=True).clamp_min(1e-12)

    def logits_from_features(self, features: torch.Tensor) -> torch.Tensor:
        """Scaled cosine similarities [N, C] of normalised features [N, D] with every class."""
        if not self.class_names:
            raise RuntimeError("no classes set: call set_classes(names) before predicting")
        scale = self.clip.logit_scale.detach().float().exp()
        return scale * features @ self.class_embeddings.t()

    def _frames(self, batch: Mapping[str, Any]) -> torch.Tensor:
        if "events" not in batch:
            raise KeyError("eventclip needs batch['events'] (uint8 event images [B, T, 3, H, W])")
        images = batch["events"]
        if images.ndim == 4:  # [B, 3, H, W]: one frame per sample
            images = images[:, None]
        if images.ndim != 5:
            raise ValueError(f"batch['events'] must be [B, T, 3, H, W], got {tuple(images.shape)}")
        return images

    @torch.no_grad()
    def extract_features(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """The frozen tower's outputs for a batch, for the engine's feature cache.

        Returns:
            ``{"event": [B, T, D] normalised frame features, "event_weight": [B, T] averaging
            weights}`` (blank frames weigh 0, see :func:`_frame_weights`).
        """
        images = self._frames(batch)  # (B, T, 3, H, W)
        batch_size, frames = images.shape[:2]
        features = self.image_features(images.flatten(0, 1)).view(batch_size, frames, -1)
        return {"event": features, "event_weight": _frame_weights(images).to(features.device)}

    def feature_cache_key(self) -> str:
        """Changes whenever :meth:`extract_features` would: the backbone's weights and input."""
        return f"eventclip-v1:{self.clip.digest()}"

    def _frame_features(self, batch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """(features [B, T, D], weights [B, T]) from the cache's ``batch["features"]`` or CLIP."""
        cached = batch.get("features")
        found = self.extract_features(batch) if cached is None else cached
        features = found["event"].to(self.device).float()
        return features, found["event_weight"].to(self.device).float()

    @torch.no_grad()
    def predict(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """Class logits [B, C]: the mean over each sample's T event images (blank ones skipped)."""
        features, weights = self._frame_features(batch)  # (B, T, D), (B, T)
        logits = self.logits_from_features(features)  # (B, T, C)
        return (weights[..., None] * logits).sum(dim=1)

    @torch.no_grad()
    def embed(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """``{"event": [B, D]}``: the normalised mean of the T normalised frame features."""
        features, weights = self._frame_features(batch)
        mean = (weights[..., None] * features).sum(dim=1)  # (B, D)
        return {"event": mean / mean.norm(dim=-1, keepdim=True).clamp_min(1e-12)}

    def training_step(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        raise RuntimeError(
            "eventclip is training-free (frozen CLIP, zero-shot text classifier): there is "
            "nothing to train; evaluate it with predict() / `evclip eval` instead"
        )

    def render_stream(self, stream: EventStream, windows: int | None = None) -> torch.Tensor:
        """The K event images of a stream as a uint8 tensor [K, 3, H, W]."""
        images = window_event_images(
            stream,
            self.windows if windows is None else windows,
            mode=self.event_image_mode,
            slicing=self.slicing,
            recentre=self.recentre,
        )
        return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()

    @torch.no_grad()
    def predict_stream(self, stream: EventStream, windows: int | None = None) -> torch.Tensor:
        """Class logits [C] of a raw stream, averaged over its K windows (blank ones skipped)."""
        images = self.render_stream(stream, windows)  # (K, 3, H, W)
        return self.predict({"events": images[None]})[0]


@dataclass(frozen=True)
class ZeroShotResult:
    """The answer for one stream.

    Attributes:
        class_names: the labels, in the order given.
        logits: float64 [C] window-averaged logits, in that order.
        probabilities: float64 [C] softmax of the logits (sums to 1).
        windows: K, the number of windows averaged.
    """

    class_names: list[str]
    logits: np.ndarray
    probabilities: np.ndarray
    windows: int

    def ranking(self, top: int | None = None) -> list[dict[str, Any]]:
        """``[{"label", "probability", "logit"}, ...]``, most probable first (ties: given order)."""
        order = np.argsort(-self.logits, kind="stable")
        if top is not None:
            order = order[: max(int(top), 0)]
        return [
            {
                "label": self.class_names[i],
                "probability": float(self.probabilities[i]),
                "logit": float(self.logits[i]),
            }
            for i in order
        ]


def zeroshot_stream(
    method_or_clip: nn.Module,
    stream: EventStream,
    labels: Sequence[str],
    *,
    windows: int | None = None,
    **options: Any,
) -> ZeroShotResult:
    """Zero-shot recognition of one raw event stream.

    Args:
        method_or_clip: an :class:`EventClip`, or a CLIP backbone to build one around (with
            ``options``: templates, event_image_mode, slicing, recentre, descriptions).
        stream: the events.
        labels: the candidate class names.
        windows: K windows to average over (default: the method's).

    Returns:
        A :class:`ZeroShotResult`.
    """
    if isinstance(method_or_clip, EventClip):
        if options:
            raise TypeError(f"options {sorted(options)} apply only when a backbone is passed")
        method = method_or_clip
    else:
        method = EventClip(method_or_clip, **options)
    labels = check_labels(labels)
    if labels != method.class_names:
        method.set_classes(labels)
    logits = method.predict_stream(stream, windows).double().cpu()
    return ZeroShotResult(
        class_names=labels,
        logits=logits.numpy(),
        probabilities=torch.softmax(logits, dim=0).numpy(),
        windows=method.windows if windows is None else int(windows),
    )


def resolve_templates(templates: str | Sequence[str] | None) -> list[str]:
    """Templates from a set name of :mod:`evclip.prompts` ("point_cloud", "imagenet", ...), one
    template holding ``{}``, or a list; None gives EventCLIP's prompt."""
    from evclip.prompts import get_templates

    if templates is None:
        return list(DEFAULT_TEMPLATES)
    resolved = get_templates(templates)
    if not resolved:
        raise ValueError("the template list is empty")
    return resolved


@METHODS.register("eventclip")
def build_eventclip(
    *,
    model: str = DEFAULT_MODEL,
    clip: nn.Module | None = None,
    templates: str | Sequence[str] | None = None,
    event_image_mode: str = DEFAULT_MODE,
    windows: int = DEFAULT_WINDOWS,
    slicing: str = "count",
    recentre: bool = True,
    descriptions: Mapping[str, Sequence[str]] | None = None,
    class_names: Sequence[str] | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None,
    image_size: int | None = None,
) -> EventClip:
    """Build EventCLIP's training-free zero-shot classifier.

    Args:
        model: CLIP to load with :func:`evclip.backbones.load_clip` (hub id, folder, checkpoint
            or registered name); ignored when ``clip`` is given.
        clip: an already loaded backbone.
        templates: a named template set of :mod:`evclip.prompts`, one template with ``{}``, or
            a list; default EventCLIP's "a point cloud image of a {}." (set "point_cloud").
        event_image_mode: event image mode for raw streams (default ``"eventclip_grey"``).
        windows: K windows a raw stream is cut into.
        slicing: ``"count"`` (equal event counts), ``"time"`` or ``"afe"``.
        recentre: re-centre raw streams on the sensor first.
        descriptions: per-class sentences averaged into the class embeddings.
        class_names: build the classifier for these names now.
        device: where to load the backbone.
        dtype: the backbone's dtype.
        image_size: CLIP input side (position embeddings interpolated when it differs).
    """
    templates = resolve_templates(templates)  # before loading: a bad name fails fast
    if clip is None:
        from evclip.backbones import load_clip

        clip = load_clip(model, device=device, dtype=dtype, image_size=image_size)
    return EventClip(
        clip,
        templates=templates,
        event_image_mode=event_image_mode,
        windows=windows,
        slicing=slicing,
        recentre=recentre,
        descriptions=descriptions,
        class_names=class_names,
    )
