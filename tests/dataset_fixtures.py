"""Writers of tiny dataset fixtures in the real file formats, shared by the dataset tests.

Frame PNGs encode which frame they are in the red channel (``value``), so a test can tell from a
sample's pixels which frames the reader picked.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from PIL import Image

#: The three HARDVS samples of :func:`write_hardvs_tree`: (class folder, sample, dvs, aps frames).
HARDVS_SAMPLES = (
    ("action_001", "dvSave-2021_01_01_00_00_01", 10, 10),
    ("action_001", "dvSave-2021_01_01_00_00_02", 4, 4),
    ("action_002", "dvSave-2021_01_01_00_00_03", 7, 9),
)


def write_png(path: Path, value: int, size: tuple[int, int] = (12, 16)) -> None:
    """A solid (height, width) image with red = ``value`` and green = 255 - ``value``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = size
    pixels = np.zeros((h, w, 3), dtype=np.uint8)
    pixels[..., 0] = value
    pixels[..., 1] = 255 - value
    Image.fromarray(pixels).save(path)


def write_frame_sample(root: Path, class_dir: str, sample: str, n_dvs: int, n_aps: int) -> None:
    """``<sample>_dvs`` frames with red 0, 10, 20, ... and ``<sample>_aps`` with 5, 15, 25, ..."""
    base = root / class_dir / sample
    for i in range(n_dvs):
        write_png(base / f"{sample}_dvs" / f"{i:08d}.png", 10 * i)
    for i in range(n_aps):
        write_png(base / f"{sample}_aps" / f"{i:08d}.png", 10 * i + 5)


def write_hardvs_tree(root: Path) -> Path:
    """The PNG layout of :data:`HARDVS_SAMPLES`; ``train_label.txt`` (CRLF) lists all three,
    ``test_label.txt`` the third."""
    for class_dir, sample, n_dvs, n_aps in HARDVS_SAMPLES:
        write_frame_sample(root, class_dir, sample, n_dvs, n_aps)
    lines = [
        f"{class_dir}/{sample} {n_dvs} {int(class_dir[-3:]) - 1}"
        for class_dir, sample, n_dvs, _ in HARDVS_SAMPLES
    ]
    (root / "train_label.txt").write_text("\r\n".join(lines) + "\r\n")
    (root / "test_label.txt").write_text(lines[2] + "\n")
    return root


def write_bin(path: Path, x, y, t, p) -> None:
    """N-MNIST / N-Caltech101 5-byte records, written byte by byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = bytearray()
    for xi, yi, ti, pi in zip(x, y, t, p, strict=True):
        out += bytes([xi, yi, (int(pi) << 7) | ((ti >> 16) & 0x7F), (ti >> 8) & 0xFF, ti & 0xFF])
    path.write_bytes(bytes(out))


def write_aedat31(path: Path, x, y, t, p) -> None:
    """AEDAT 3.1: text header, one polarity packet (28-byte header + 8-byte events)."""
    header = b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n"
    n = len(x)
    packet = struct.pack("<hhiiiiii", 1, 1, 8, 4, 0, n, n, n)
    body = bytearray()
    for xi, yi, ti, pi in zip(x, y, t, p, strict=True):
        data = 1 | (int(pi) << 1) | (int(yi) << 2) | (int(xi) << 17)
        body += struct.pack("<II", data, int(ti))
    path.write_bytes(header + packet + bytes(body))


def write_npz_events(path: Path, x, y, t, p) -> None:
    """A HARDVS-style compact event file: arrays ``x``, ``y``, ``t`` (us), ``p``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        x=np.asarray(x, np.uint16),
        y=np.asarray(y, np.uint16),
        t=np.asarray(t, np.int64),
        p=np.asarray(p, np.int8),
    )


def write_nimagenet_npz(path: Path, rng: np.random.Generator, n: int = 40) -> None:
    """An N-ImageNet ``.npz`` with the structured ``event_data`` array."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.zeros(n, dtype=[("x", "<u2"), ("y", "<u2"), ("t", "<i8"), ("p", "u1")])
    x, y, t, p = random_events(rng, n, 640, 480)
    data["x"], data["y"], data["t"], data["p"] = x, y, t, p
    np.savez(path, event_data=data)


def random_events(rng: np.random.Generator, n: int, width: int, height: int, t_max=100_000):
    """x, y, sorted t, p columns of ``n`` random events."""
    t = np.sort(rng.integers(0, t_max, n))
    return rng.integers(0, width, n), rng.integers(0, height, n), t, rng.integers(0, 2, n)


def raster_events(n: int, width: int, step_us: int = 100):
    """Event k at pixel (k % width, k // width), time k * step_us, ON: a pixel tells its time."""
    k = np.arange(n)
    return k % width, k // width, k * step_us, np.ones(n, np.int64)


def lit_times(image, width: int, step_us: int = 100) -> np.ndarray:
    """Times of the raster events (:func:`raster_events`) lit in one event image [3, H, W]."""
    background = image[:, -1, -1].reshape(3, 1, 1)  # the last pixel never fires in the tests
    ys, xs = np.nonzero(np.asarray((image != background).any(0)))
    return np.sort((ys * width + xs) * step_us)


def write_tiny_benchmark(root: Path, n_samples: int = 8, size: int = 64, n_frames: int = 5) -> Path:
    """A benchmark in the layout of ``evclip synth-dataset`` that ``get_dataset("synthetic")``
    reads: ``n_samples`` training clips of two classes, each with ``n_frames`` event and RGB
    PNGs of ``size`` x ``size`` pixels and a ``.npz`` of raster events; ``train_label.txt`` lists
    them all."""
    import json

    lines = []
    for i in range(n_samples):
        label = i % 2
        class_dir, name = f"action_{label + 1:03d}", f"sample_{i:05d}"
        base = root / class_dir / name
        for k in range(n_frames):
            write_png(base / f"{name}_dvs" / f"{k:08d}.png", 10 * k + i, (size, size))
            write_png(base / f"{name}_aps" / f"{k:08d}.png", 10 * k + i + 5, (size, size))
        write_npz_events(base / f"{name}.npz", *raster_events(size * size, size, step_us=10))
        lines.append(f"{class_dir}/{name} {n_frames} {label}")
    (root / "train_label.txt").write_text("\n".join(lines) + "\n")
    (root / "classnames.txt").write_text("a red one moving left\na green one moving left\n")
    config = {"image_size": size, "n_frames": n_frames}
    (root / "manifest.json").write_text(json.dumps({"config": config}))
    return root
