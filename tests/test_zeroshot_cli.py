"""``evclip zeroshot`` end to end on the tiny random CLIP: JSON shape, errors, timeline outputs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from evclip.cli.main import main
from evclip.io import EventStream, make_events, write_events
from evclip.zeroshot.strip import CAPTION_HEIGHT, GAP

MODEL = ["--model", "test_clip_tiny"]


def _stream(n: int = 3000, seed: int = 0, span_us: int = 100_000) -> EventStream:
    rng = np.random.default_rng(seed)
    x = np.clip(rng.normal(20, 6, n), 0, 39).astype(int)
    y = np.clip(rng.normal(15, 4, n), 0, 29).astype(int)
    t = np.sort(rng.integers(5_000, 5_000 + span_us, n))
    return EventStream(make_events(x, y, t, rng.integers(0, 2, n)), (40, 30))


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "rec.npz"
    write_events(path, _stream())
    return path


def _run(capsys, *argv: str) -> tuple[int, dict | None, str]:
    code = main(["zeroshot", *argv])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if code == 0 else None, captured.err


def test_json_ranks_every_label_with_probabilities(recording, capsys):
    labels = ["walking", "running", "jumping", "waving"]
    code, out, _ = _run(capsys, "--events", str(recording), "--labels", ", ".join(labels), *MODEL)
    assert code == 0
    assert out["model"] == "test_clip_tiny" and out["windows"] == 2
    assert out["mode"] == "eventclip_grey" and out["events"] == 3000
    assert out["templates"] == ["a point cloud image of a {}."]
    ranked = out["labels"]
    assert sorted(row["label"] for row in ranked) == sorted(labels)
    probabilities = [row["probability"] for row in ranked]
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
    assert probabilities == sorted(probabilities, reverse=True)


def test_same_call_gives_the_same_answer(recording, capsys):
    argv = ["--events", str(recording), "--labels", "cat, dog, bird", "--windows", "3", *MODEL]
    first = _run(capsys, *argv)
    second = _run(capsys, *argv)
    assert first[0] == 0 and first == second
    assert first[1]["windows"] == 3


def test_top_templates_and_labels_file(recording, tmp_path, capsys):
    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("cat\n\ndog\nbird\nfish\n", encoding="utf-8")
    code, out, _ = _run(
        capsys,
        "--events",
        str(recording),
        "--labels-file",
        str(labels_file),
        "--top",
        "2",
        "--template",
        "a {}.",
        "--template",
        "a drawing of a {}.",
        "--mode",
        "eclip_rgb",
        *MODEL,
    )
    assert code == 0
    assert len(out["labels"]) == 2 and out["templates"] == ["a {}.", "a drawing of a {}."]
    assert out["mode"] == "eclip_rgb"
    assert {row["label"] for row in out["labels"]} <= {"cat", "dog", "bird", "fish"}


def test_other_file_formats(tmp_path, capsys):
    path = tmp_path / "rec.h5"
    write_events(path, _stream(seed=1))
    code, out, _ = _run(capsys, "--events", str(path), "--labels", "a, b", *MODEL)
    assert code == 0 and out["events"] == 3000


def test_real_recordings(realdata_dir, capsys):
    for name in ("sample_nmnist.bin", "sample_ncars.dat", "sample.aedat4"):
        path = realdata_dir / name
        code, out, _ = _run(capsys, "--events", str(path), "--labels", "car, background", *MODEL)
        assert code == 0, name
        assert sum(row["probability"] for row in out["labels"]) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ("walking, running, walking", "duplicate label 'walking'"),
        ("walking, , running", "label 2 of 3 is empty"),
        ("walking", "at least two labels"),
    ],
)
def test_bad_labels_exit_2(recording, capsys, labels, message):
    code, _, err = _run(capsys, "--events", str(recording), "--labels", labels, *MODEL)
    assert code == 2 and message in err


def test_bad_labels_file_names_the_file(recording, tmp_path, capsys):
    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("cat\nCat\n", encoding="utf-8")
    code, _, err = _run(capsys, "--events", str(recording), "--labels-file", str(labels_file))
    assert code == 2 and str(labels_file) in err and "duplicate" in err


def test_missing_model_and_file_exit_2(recording, tmp_path, capsys):
    missing = str(tmp_path / "no_such_model")
    code, _, err = _run(capsys, "--events", str(recording), "--labels", "a, b", "--model", missing)
    assert code == 2 and "no_such_model" in err
    code, _, err = _run(capsys, "--events", str(tmp_path / "none.npz"), "--labels", "a, b", *MODEL)
    assert code == 2 and "none.npz" in err


def _timeline(capsys, recording, out, *extra: str):
    base = ["--events", str(recording), "--labels", "cat, dog", *MODEL, "--out", str(out)]
    return _run(capsys, *base, *extra)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_timeline_rows_and_strip(recording, tmp_path, capsys, suffix):
    out, strip = tmp_path / f"rows{suffix}", tmp_path / "strip.png"
    argv = ["--window-us", "20000", "--stride-us", "15000", "--strip", str(strip), "--quiet"]
    code, summary, _ = _timeline(capsys, recording, out, *argv)
    assert code == 0
    events = _stream().events
    span = int(events["t"][-1] - events["t"][0]) + 1
    expected = (span - 20_000) // 15_000 + 1
    if suffix == ".csv":
        with open(out, newline="") as f:
            rows = list(csv.DictReader(f))
    else:
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == expected == summary["windows"]
    t0 = int(events["t"][0])
    for i, row in enumerate(rows):
        assert int(row["window"]) == i and int(row["start_us"]) == t0 + 15_000 * i
        assert int(row["end_us"]) == t0 + 15_000 * i + 20_000
        assert row["label"] in ("cat", "dog") and 0.5 <= float(row["probability"]) <= 1.0
        start = int(row["start_us"])
        inside = (events["t"] >= start) & (events["t"] < start + 20_000)
        assert int(row["events"]) == int(inside.sum())
    assert sum(summary["label_counts"].values()) == expected
    with Image.open(strip) as image:
        tile = round(40 * 96 / 30)
        assert image.size == (expected * tile + (expected - 1) * GAP, 96 + CAPTION_HEIGHT)
    assert summary["strip_size"] == list(image.size)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--window-us", "0"], "window length must be positive"),
        (["--window-us", "1000", "--stride-us", "0"], "stride must be positive"),
        (["--window-us", "500000"], "shorter than one window of 500000 us"),
    ],
)
def test_timeline_errors_exit_2(recording, tmp_path, capsys, argv, message):
    out = tmp_path / "rows.csv"
    code, _, err = _timeline(capsys, recording, out, *argv, "--quiet")
    assert code == 2 and message in err
    assert not out.exists()


def test_timeline_options_need_the_timeline_mode(recording, tmp_path, capsys):
    base = ["--events", str(recording), "--labels", "a, b", *MODEL]
    code, _, err = _run(capsys, *base, "--stride-us", "10")
    assert code == 2 and "--window-us" in err
    code, _, err = _run(capsys, *base, "--window-us", "10")
    assert code == 2 and "needs --out" in err
    code, _, err = _run(capsys, *base, "--window-us", "10", "--out", str(tmp_path / "rows.txt"))
    assert code == 2 and ".jsonl or .csv" in err
