"""Tests of evclip's synthetic RGB + event benchmark: kernels, plan, build, layout, CLI."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from evclip.datasets import synthetic_render as world
from evclip.datasets.synthetic import SyntheticConfig, class_caption
from evclip.datasets.synthetic_layout import SPLITS, choose_heldout, fewshot_lists, plan_samples

SMALL = SyntheticConfig.small()


# ---------------------------------------------------------------- kernels


@pytest.mark.parametrize("hue", sorted(world.COLOUR_HUES))
def test_colours_are_isoluminant_and_in_range(hue):
    colour = world.isoluminant_colour(hue, 128.0)
    assert world.rgb_to_luma(colour) == pytest.approx(128.0, abs=1e-9)
    assert colour.min() >= 0 and colour.max() <= 255
    assert colour.max() - colour.min() > 100  # really coloured, not grey


def test_unknown_colour_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown colour 'mauve'"):
        world.isoluminant_colour("mauve", 128.0)


def test_digit_mask_shape_range_and_ink():
    mask = world.digit_mask(world.digit_instance(3, 0), 30)
    assert mask.shape == (30, 30)
    assert mask.min() == 0.0 and mask.max() == 1.0
    assert 0.1 < (mask > 0.5).mean() < 0.6


def test_place_mask_keeps_mass_and_moves_subpixel():
    rng = np.random.default_rng(0)
    mask = rng.random((7, 5))
    mask_copy = mask.copy()
    canvas = world.place_mask(mask, (20.3, 15.6), (40, 40))
    np.testing.assert_array_equal(mask, mask_copy)  # input unchanged
    assert canvas.sum() == pytest.approx(mask.sum())
    ys, xs = np.mgrid[:40, :40]
    com = (xs * canvas).sum() / canvas.sum(), (ys * canvas).sum() / canvas.sum()
    m_ys, m_xs = np.mgrid[:7, :5]
    own = (m_xs * mask).sum() / mask.sum() - 2, (m_ys * mask).sum() / mask.sum() - 3
    assert com == pytest.approx((20.3 + own[0], 15.6 + own[1]), abs=1e-9)
    assert world.place_mask(mask, (-50.0, -50.0), (40, 40)).sum() == 0  # fully outside
    wrapped = world.place_mask(mask, (-1.7, 39.2), (40, 40), wrap=True)  # across two edges
    assert wrapped.sum() == pytest.approx(mask.sum())
    np.testing.assert_allclose(wrapped, world.place_mask(mask, (38.3, -0.8), (40, 40), wrap=True))


def _clip(colour: str, n_subframes: int = 20, contrast: float = 20.0):
    rng = np.random.default_rng(1)
    mask = world.digit_mask(world.digit_instance(7, 2), 24)
    background = world.background_crop("brick", (48, 48), rng, mean=50.0, contrast=contrast)
    geometry = world.ClipGeometry((4.0, 24.0), (60.0 / n_subframes, 0.0))
    colour_rgb = world.isoluminant_colour(colour, 128.0)
    return world.render_clip(mask, colour_rgb, background, geometry, n_subframes)


def test_luma_video_has_no_colour_information():
    red_rgb, red_luma = _clip("red")
    green_rgb, green_luma = _clip("green")
    assert np.abs(red_rgb - green_rgb).max() > 100  # the RGB frames differ a lot...
    np.testing.assert_array_equal(red_luma, green_luma)  # ...the simulator's input not at all
    np.testing.assert_allclose(world.rgb_to_luma(red_rgb), red_luma, atol=1e-3)


def test_motion_blur_lowers_sharpness():
    rgb, _ = _clip("blue", n_subframes=20, contrast=0.0)  # flat background: only the digit
    linear = rgb / 255.0
    blurred = world.expose_frames(linear, n_frames=5, duty_cycle=1.0)
    assert blurred.shape == (5, 48, 48, 3)
    for i in (1, 2):  # frames where the digit is inside the image
        assert world.sharpness(blurred[i]) < 0.5 * world.sharpness(linear[4 * i + 2])
    with pytest.raises(ValueError, match="do not split"):
        world.expose_frames(linear, n_frames=3, duty_cycle=1.0)


@pytest.mark.parametrize("axis", [(1.0, 0.0), (0.0, 1.0)])
def test_exposure_of_one_belt_period_cannot_tell_direction(axis):
    mask = world.digit_mask(world.digit_instance(3, 1), 14)
    background = world.background_crop(
        "gravel", (32, 32), np.random.default_rng(2), mean=60.0, contrast=15.0
    )
    clips = []
    for sign in (1.0, -1.0):  # the same belt running both ways
        path = world.conveyor_geometry((12.3, 17.6), (sign * axis[0], sign * axis[1]), 32, 8)
        clips.append(
            world.render_clip(mask, world.isoluminant_colour("red", 128.0), background, path, 30)
        )
    (rgb_a, luma_a), (rgb_b, luma_b) = clips
    assert np.abs(luma_a - luma_b).max() > 50  # the scene moves differently...
    frames_a = world.expose_frames(rgb_a, n_frames=3, duty_cycle=0.8)  # exposure: 8 of 10
    frames_b = world.expose_frames(rgb_b, n_frames=3, duty_cycle=0.8)
    np.testing.assert_allclose(frames_a, frames_b, atol=1e-3)  # ...the photographs do not
    np.testing.assert_allclose(frames_a[0], frames_a[2], atol=1e-3)  # nor from frame to frame
    partial = world.expose_frames(rgb_a, n_frames=3, duty_cycle=0.5)  # not a whole period
    assert np.abs(partial - world.expose_frames(rgb_b, 3, 0.5)).max() > 20


def test_camera_dark_bright_noise():
    rgb, _ = _clip("red")
    normal = world.CameraModel(n_frames=5, light=1.0)
    dark = replace(normal, light=0.05, gain=8.0)
    bright = replace(normal, light=5.0)
    out = {
        name: world.capture_rgb(rgb, cam, np.random.default_rng(0))
        for name, cam in (("normal", normal), ("dark", dark), ("bright", bright))
    }
    assert all(o.shape == (5, 48, 48, 3) and o.dtype == np.uint8 for o in out.values())
    assert (out["bright"] == 255).mean() > 0.02 > (out["normal"] == 255).mean()  # clipping
    assert out["bright"].mean() > 1.5 * out["normal"].mean()
    assert out["dark"].mean() < out["normal"].mean()
    noise = {k: np.abs(np.diff(v.astype(float), axis=2)).mean() for k, v in out.items()}
    assert noise["dark"] > 2 * noise["normal"]  # low light: amplified shot and read noise
    again = world.capture_rgb(rgb, normal, np.random.default_rng(0))
    np.testing.assert_array_equal(again, out["normal"])


# ---------------------------------------------------------------- plan and splits


def test_class_captions():
    assert class_caption("red", 7, "left") == "a red seven moving left"
    names = SMALL.class_names()
    assert len(names) == len(set(names)) == 12
    assert names[0] == "a red one moving left"
    full = SyntheticConfig.full().class_names()
    assert len(full) == 60 and "a blue four moving up" in full


def test_plan_heldout_combos_absent_from_train():
    plan = plan_samples(SMALL, 0, world.digit_instance_counts())
    combos = SMALL.class_combos()
    labels = {split: {s.label for s in plan.samples if s.split == split} for split in SPLITS}
    assert len(plan.heldout) == SMALL.n_heldout
    assert labels["zeroshot"] == set(plan.heldout)
    assert not labels["train"] & plan.heldout and not labels["test"] & plan.heldout
    seen = [combos[i] for i in labels["train"]]
    for label in plan.heldout:  # every part of a held-out class is seen in training
        for j in range(3):
            assert any(c[j] == combos[label][j] for c in seen)
    assert [s.index for s in plan.samples] == list(range(len(plan.samples)))
    assert len(plan.samples) == 10 * (4 + 2) + 2 * 2


def test_plan_is_seeded_and_handwriting_is_split():
    counts = world.digit_instance_counts()
    a, b = plan_samples(SMALL, 3, counts), plan_samples(SMALL, 3, counts)
    assert a.samples == b.samples and a.heldout == b.heldout
    assert plan_samples(SMALL, 4, counts).samples != a.samples
    train = {(s.digit, s.instance) for s in a.samples if s.split == "train"}
    other = {(s.digit, s.instance) for s in a.samples if s.split != "train"}
    assert not train & other


def test_heldout_impossible_is_a_clear_error():
    config = replace(SMALL, colours=("red",), digits=(1,), n_heldout=2)
    with pytest.raises(ValueError, match="cannot hold out 2"):
        choose_heldout(config, np.random.default_rng(0))


def test_fewshot_lists_have_k_per_class_and_nest():
    config = replace(SMALL, train_per_class=6)
    plan = plan_samples(config, 0, world.digit_instance_counts())
    lists = fewshot_lists(plan, (1, 2, 5), draw=0, seed=0)
    seen = {s.label for s in plan.samples if s.split == "train"}
    for k, chosen in lists.items():
        assert all(s.split == "train" for s in chosen)
        per_class = {label: sum(s.label == label for s in chosen) for label in seen}
        assert set(per_class.values()) == {k}
    assert set(lists[1]) <= set(lists[2]) <= set(lists[5])
    assert fewshot_lists(plan, (2,), draw=1, seed=0)[2] != lists[2]
    with pytest.raises(ValueError, match="7-shot"):
        fewshot_lists(plan, (7,), draw=0, seed=0)


# ---------------------------------------------------------------- the build


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def small_build(tmp_path_factory):
    from evclip.datasets.synthetic import build_synthetic_benchmark

    root = tmp_path_factory.mktemp("synth") / "small"
    started = time.perf_counter()
    manifest = build_synthetic_benchmark(root, size="small", seed=0, progress=False)
    seconds = time.perf_counter() - started
    print(f"small build: {seconds:.2f} s")
    return root, manifest


def _read_split(root: Path, split: str) -> list[tuple[str, int, int]]:
    rows = []
    for line in (root / f"{split}_label.txt").read_text().splitlines():
        path, n_frames, label = line.split()
        rows.append((path, int(n_frames), int(label)))
    return rows


def test_build_layout_matches_hardvs(small_build):
    root, manifest = small_build
    names = (root / "classnames.txt").read_text().splitlines()
    assert names == SMALL.class_names() == manifest["classes"]
    total = 0
    for split in SPLITS:
        rows = _read_split(root, split)
        assert len(rows) == manifest["counts"][split] > 0
        total += len(rows)
        for path, n_frames, label in rows:
            class_dir, sample = path.split("/")
            assert class_dir == f"action_{label + 1:03d}" and n_frames == SMALL.n_frames
            folder = root / path
            for kind in ("aps", "dvs"):
                pngs = sorted((folder / f"{sample}_{kind}").iterdir())
                assert [p.name for p in pngs] == [f"{i:08d}.png" for i in range(n_frames)]
            assert (folder / f"{sample}.npz").is_file()
    assert total == 64
    assert not list(root.rglob(".*"))  # no temporary left anywhere
    zeroshot = {label for _, _, label in _read_split(root, "zeroshot")}
    train = {label for _, _, label in _read_split(root, "train")}
    assert zeroshot == set(manifest["heldout_labels"]) and not zeroshot & train
    assert json.loads((root / "manifest.json").read_text())["complete"] is True


def test_build_fewshot_files(small_build):
    root, manifest = small_build
    for k in SMALL.fewshot_k:
        rows = _read_split(root, f"fewshot_{k}shot_s0")
        labels = [label for _, _, label in rows]
        assert sorted(set(labels)) == sorted(set(range(12)) - set(manifest["heldout_labels"]))
        assert all(labels.count(label) == k for label in set(labels))
        assert {r[0] for r in rows} <= {r[0] for r in _read_split(root, "train")}


def test_build_captions(small_build):
    from PIL import Image

    root, _ = small_build
    records = [json.loads(line) for line in (root / "captions.jsonl").read_text().splitlines()]
    assert len(records) == SMALL.n_captions
    for record in records:
        assert record["colour"] in SMALL.colours and record["digit"] in SMALL.digits
        assert record["colour"] in record["caption"]
        assert world.DIGIT_WORDS[record["digit"]] in record["caption"]
        image = np.asarray(Image.open(root / record["image"]))
        assert image.shape == (SMALL.image_size, SMALL.image_size, 3)


def test_build_events_and_frames(small_build):
    from PIL import Image

    from evclip.io import read_events

    root, _ = small_build
    path, _, _ = _read_split(root, "train")[0]
    sample = path.split("/")[1]
    stream = read_events(root / path / f"{sample}.npz")
    assert len(stream) > 100
    assert stream.sensor_size == (SMALL.image_size, SMALL.image_size)
    assert stream.events["t"].min() >= 0 and stream.events["t"].max() < SMALL.duration_us
    assert set(np.unique(stream.events["p"])) == {0, 1}
    dvs = [np.asarray(Image.open(p)) for p in sorted((root / path / f"{sample}_dvs").iterdir())]
    assert all(d.shape == (SMALL.image_size, SMALL.image_size, 3) for d in dvs)
    assert len({d.tobytes() for d in dvs}) > 1  # event images change over time


def test_rendered_rgb_is_degraded_and_events_colourless():
    from evclip.datasets.synthetic import render_sample

    plan = plan_samples(SMALL, 0, world.digit_instance_counts())
    spec = plan.samples[0]
    sample = render_sample(spec, SMALL, seed=0)
    assert sample.rgb.shape == sample.clean.shape == (5, 48, 48, 3)
    assert np.abs(sample.rgb.astype(float) - sample.clean).mean() > 5
    other = "green" if spec.colour == "red" else "red"
    recoloured = render_sample(replace(spec, colour=other), SMALL, seed=0)
    np.testing.assert_array_equal(recoloured.stream.events, sample.stream.events)
    np.testing.assert_array_equal(recoloured.event_images, sample.event_images)
    assert np.abs(recoloured.clean.astype(int) - sample.clean).max() > 100


def _belt_travel(stream, width: int, n_slices: int, duration_us: int) -> float:
    """Pitches the events' x centroid travels, read on the circle of the wrapping view."""
    bounds = np.searchsorted(stream.events["t"], np.linspace(0, duration_us, n_slices + 1))
    phase = [
        np.angle(np.exp(2j * np.pi * stream.events["x"][a:b] / width).mean())
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    return float(np.angle(np.exp(1j * np.diff(phase))).sum() / (2 * np.pi))


def test_rgb_hides_direction_events_show_it():
    from evclip.datasets.synthetic import render_sample

    spec = plan_samples(SMALL, 0, world.digit_instance_counts()).samples[0]
    left = render_sample(replace(spec, motion="left"), SMALL, seed=0)
    right = render_sample(replace(spec, motion="right"), SMALL, seed=0)
    assert np.abs(left.rgb.astype(int) - right.rgb).max() <= 1  # the same photographs
    assert np.abs(left.event_images.astype(int) - right.event_images).mean() > 20
    pitches = SMALL.n_subframes / SMALL.period_subframes  # the belt moves 6.25 views a clip
    args = (SMALL.image_size, SMALL.n_subframes // 2, SMALL.duration_us)
    assert _belt_travel(left.stream, *args) == pytest.approx(-pitches, abs=0.5)
    assert _belt_travel(right.stream, *args) == pytest.approx(pitches, abs=0.5)


def test_build_is_deterministic_and_resumes(small_build, tmp_path):
    from evclip.datasets.synthetic import build_synthetic_benchmark

    root, _ = small_build
    copy = tmp_path / "again"
    build_synthetic_benchmark(copy, size="small", seed=0, progress=False)
    reference = _hashes(root)
    assert _hashes(copy) == reference
    victim = copy / _read_split(copy, "test")[0][0]
    shutil.rmtree(victim)
    stale = victim.parent / f".{victim.name}.{DEAD_PID}.k3x9_qz7"  # an interrupted earlier write
    stale.mkdir()
    (stale / f"{victim.name}.npz").write_bytes(b"half a file")
    manifest = build_synthetic_benchmark(copy, size="small", seed=0, progress=False)
    assert manifest["written_now"] == 1 and not stale.exists()
    assert _hashes(copy) == reference
    with pytest.raises(ValueError, match="different seed"):
        build_synthetic_benchmark(copy, size="small", seed=1, progress=False)


def test_cli_workers_default_to_the_usable_cores():
    import os

    from evclip.cli.main import build_parser

    cores = len(os.sched_getaffinity(0))
    for command in (["synth-dataset", "out"], ["synthesize", "images", "out"]):
        assert build_parser().parse_args(command).workers == max(1, min(cores, 8))
        assert build_parser().parse_args([*command, "--workers", "3"]).workers == 3


def test_cli_synth_dataset(tmp_path, capsys):
    from evclip.cli.main import main

    out = tmp_path / "cli"
    assert main(["synth-dataset", str(out), "--seed", "5", "--no-progress", "--workers", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["counts"]["train"] == 40 and summary["written_now"] == 64
    assert (out / "manifest.json").is_file()
    assert main(["synth-dataset", str(out), "--seed", "6", "--no-progress"]) == 2


def test_hardvs_reader_reads_the_benchmark(small_build):
    from evclip.datasets.synthetic import load_synthetic_benchmark

    root, manifest = small_build
    dataset = load_synthetic_benchmark(root, "test")
    assert len(dataset) == manifest["counts"]["test"]
    item = dataset[0]
    _, _, label = _read_split(root, "test")[0]
    assert item["label"] == label
    assert item["class_name"] == SMALL.class_names()[label]


def test_registry_serves_the_benchmark_zero_shot_split(small_build):
    from evclip.datasets import get_dataset

    root, manifest = small_build
    dataset = get_dataset("synthetic", root=root, split="zeroshot", num_frames=3)
    assert len(dataset) == manifest["counts"]["zeroshot"]
    labels = {label for _, _, label in _read_split(root, "zeroshot")}
    assert labels == set(manifest["heldout_labels"])
    item = dataset[0]
    assert item["events"].shape[0] == 3 and item["label"] in labels


def test_write_sample_leaves_nothing_when_a_write_fails(tmp_path):
    from evclip.datasets.synthetic import render_sample, write_sample

    spec = plan_samples(SMALL, 0, world.digit_instance_counts()).samples[0]
    sample = render_sample(spec, SMALL, seed=0)
    sample.event_images = sample.event_images.astype(np.float64)  # PIL cannot save this
    (tmp_path / spec.class_dir).mkdir()
    with pytest.raises(TypeError):
        write_sample(tmp_path, spec, sample)
    assert list((tmp_path / spec.class_dir).iterdir()) == []  # no final folder, no .tmp- folder


DEAD_PID = 4_194_305  # above Linux's largest pid_max: no such process


def _write_sample_killed_at_third_png(root: Path, spec, sample) -> int:
    """Run write_sample in a forked child that SIGKILLs itself as it saves its third PNG (no
    handler, no cleanup can run); returns the dead child's pid."""
    from PIL import Image

    from evclip.datasets.synthetic import write_sample

    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        try:
            original, saved = Image.Image.save, []

            def save(self, *args, **kwargs):
                saved.append(1)
                if len(saved) == 3:
                    os.kill(os.getpid(), signal.SIGKILL)
                return original(self, *args, **kwargs)

            Image.Image.save = save
            write_sample(root, spec, sample)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    return pid


def test_next_build_removes_what_killed_builds_left_and_nothing_else(small_build, tmp_path):
    from evclip.datasets.synthetic import build_synthetic_benchmark, render_sample

    root, _ = small_build
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    reference = _hashes(copy)
    spec = plan_samples(SMALL, 0, world.digit_instance_counts()).samples[3]
    shutil.rmtree(copy / spec.relative_path)
    pid = _write_sample_killed_at_third_png(copy, spec, render_sample(spec, SMALL, seed=0))
    folder = copy / spec.class_dir
    killed = [p for p in folder.iterdir() if p.name.startswith(f".{spec.name}.{pid}.")]
    assert len(killed) == 1 and len(list(killed[0].rglob("*.png"))) == 2  # what SIGKILL leaves
    stale = [
        *killed,
        folder / ".tmp-sample_09998",  # named before the pid was, untouched for two hours
        copy / f".captions.{DEAD_PID}.k3x9_qz7",
        copy / f".manifest.json.{DEAD_PID}.a1b2c3d4.tmp",
    ]
    kept = [
        folder / f".sample_09997.{os.getpid()}.k3x9_qz7",  # a build still writing
        folder / ".tmp-sample_09999",  # an old-style name, but written to just now
        folder / f".notes.{DEAD_PID}.k3x9_qz7",  # not something a build writes
    ]
    for path in [*stale[1:], *kept]:
        path.mkdir() if path.suffix != ".tmp" else path.write_text("{")
    two_hours_ago = time.time() - 7200
    os.utime(stale[1], (two_hours_ago, two_hours_ago))
    manifest = build_synthetic_benchmark(copy, size="small", seed=0, progress=False)
    assert manifest["written_now"] == 1
    assert [p for p in stale if p.exists()] == [] and all(p.is_dir() for p in kept)
    assert _hashes(copy) == reference


def test_parallel_build_stops_on_ctrl_c_and_resumes_identically(tmp_path, monkeypatch):
    import tqdm

    from evclip.datasets.synthetic import build_synthetic_benchmark

    tiny = replace(
        SMALL, train_per_class=1, test_per_class=1, zeroshot_per_class=1, fewshot_k=(1,),
        n_captions=2, image_size=32, digit_size=(14, 18),
    )  # fmt: skip
    reference, copy = tmp_path / "reference", tmp_path / "parallel"
    build_synthetic_benchmark(reference, config=tiny, progress=False)

    def interrupt(self, n=1):
        raise KeyboardInterrupt  # Ctrl-C while the first finished clip is counted

    monkeypatch.setattr(tqdm.tqdm, "update", interrupt)
    with pytest.raises(KeyboardInterrupt):
        build_synthetic_benchmark(copy, config=tiny, workers=2, progress=False)
    monkeypatch.undo()
    done = list(copy.glob("action_*/sample_*"))  # the pool has stopped: nothing runs any more
    assert 1 <= len(done) <= 5  # the clip counted, plus those already running: not all 22
    assert not list(copy.rglob(".*"))
    manifest = build_synthetic_benchmark(copy, config=tiny, progress=False)
    assert manifest["written_now"] == 22 - len(done)
    assert _hashes(copy) == _hashes(reference)  # clips from worker processes, byte for byte


# ---------------------------------------------------------------- evclip synthesize (EZSR)


@pytest.fixture
def image_folder(tmp_path):
    from PIL import Image

    root = tmp_path / "images"
    rng = np.random.default_rng(0)
    for label, name in (("cat", "a.png"), ("cat", "b.png"), ("dog", "c.png")):
        (root / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((24, 32)) * 255).astype(np.uint8)).save(root / label / name)
    return root


SYNTHESIZE = {"workers": 1, "progress": False, "n_frames": 12}


def _interrupt_after(monkeypatch, n_calls: int) -> list[str]:
    from evclip.simulate import synthesize as synth

    calls: list[str] = []
    real = synth.run_job

    def counted(job, *args):
        if len(calls) >= n_calls:
            raise KeyboardInterrupt
        calls.append(job.events)
        return real(job, *args)

    monkeypatch.setattr(synth, "run_job", counted)
    return calls


def test_synthesize_appends_after_a_row_cut_short_by_a_kill(image_folder, tmp_path, monkeypatch):
    from evclip.simulate import synthesize as synth

    out = tmp_path / "events"
    _interrupt_after(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        synth.synthesize_folder(image_folder, out, **SYNTHESIZE)
    partial = out / synth.PARTIAL_NAME
    with partial.open("a") as f:
        f.write('{"class": "cat", "ima')  # the process was killed while writing a row
    monkeypatch.undo()
    _interrupt_after(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        synth.synthesize_folder(image_folder, out, **SYNTHESIZE)
    rows = list(synth._read_rows(partial))
    assert sorted(r["events"] for r in rows) == ["cat/a.npz", "cat/b.npz"]


def test_synthesize_deletes_temporaries_of_a_killed_run(image_folder, tmp_path):
    from evclip.simulate import synthesize as synth

    out = tmp_path / "events"
    synth.synthesize_folder(image_folder, out, **SYNTHESIZE)
    dead = 4_194_305  # above Linux's largest pid_max: no such process
    stale = [
        out / "cat" / f".a.npz.{dead}.k3x9_qz7.tmp",
        out / f".manifest.jsonl.{dead}.a1b2c3d4.tmp",
    ]
    live = out / "cat" / f".b.npz.{os.getpid()}.k3x9_qz7.tmp"  # a run still going: kept
    for path in [*stale, live]:
        path.write_bytes(b"half a file")
    summary = synth.synthesize_folder(image_folder, out, **SYNTHESIZE)
    assert summary.skipped == 3 and not any(p.exists() for p in stale) and live.exists()


def test_synthesize_refuses_to_mix_settings_and_pairs_absolute_paths(
    image_folder, tmp_path, monkeypatch, capsys
):
    from evclip.cli.main import main
    from evclip.simulate import synthesize as synth

    monkeypatch.chdir(image_folder.parent)
    synth.synthesize_folder("images", "events", **SYNTHESIZE)
    out = tmp_path / "events"
    rows = [json.loads(line) for line in (out / synth.MANIFEST_NAME).read_text().splitlines()]
    assert all(Path(r["image"]).is_absolute() and Path(r["image"]).is_file() for r in rows)
    assert len({r["settings"] for r in rows}) == 1
    with pytest.raises(ValueError, match="other settings"):
        synth.synthesize_folder("images", "events", **{**SYNTHESIZE, "n_frames": 20})
    argv = ["synthesize", "images", "events", "--quiet", "--motion", "affine", "--workers", "1"]
    assert main(argv) == 2 and "other settings" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    again = [json.loads(line) for line in (out / synth.MANIFEST_NAME).read_text().splitlines()]
    assert {r["settings"] for r in again} != {r["settings"] for r in rows}
    assert main(argv) == 0  # the same settings again: everything is skipped
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["skipped"] == 3
