"""Tests of the event simulator, the camera motions, dataset synthesis and their CLI commands."""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from evclip.cli.main import main
from evclip.io import EVENT_DTYPE, check_events, read_events
from evclip.simulate import (
    EventSimulator,
    SimulatorConfig,
    random_affine_motion,
    saccade_motion,
    simulate_batch,
    simulate_frames,
    simulate_image,
)
from evclip.simulate import synthesize as synth
from evclip.simulate.functional import refractory_filter

IDEAL = SimulatorConfig.ideal()
NOISY = SimulatorConfig(
    threshold_sigma=0.05,
    leak_rate_hz=5.0,
    shot_noise_rate_hz=20.0,
    hot_pixel_fraction=0.02,
    refractory_us=200,
    cutoff_hz=300.0,
    seed=7,
)


def _step_frames(before: int, after: int, shape=(4, 5)) -> np.ndarray:
    frames = np.empty((2, *shape), dtype=np.uint8)
    frames[0], frames[1] = before, after
    return frames


def _expected_crossings(before: int, after: int, threshold: float, eps: float, dt: int):
    delta = abs(math.log((after / 255 + eps) / (before / 255 + eps)))
    k = math.floor(delta / threshold)
    return k, [round(dt * j * threshold / delta) for j in range(1, k + 1)]


def _smooth_video(seed: int, n_frames: int = 8, size=(20, 24)) -> np.ndarray:
    """A blurred random texture drifting by a pixel per frame: float32 [T, H, W] in [0, 1]."""
    rng = np.random.default_rng(seed)
    h, w = size
    texture = rng.random((h + n_frames + 4, w + n_frames + 4))
    for axis in (0, 1):  # cheap blur: average of shifted copies
        texture = (texture + np.roll(texture, 1, axis) + np.roll(texture, -1, axis)) / 3
    return np.stack([texture[i : i + h, i : i + w] for i in range(n_frames)]).astype(np.float32)


def _assert_sorted_in_sensor(events: np.ndarray, sensor_size) -> None:
    check_events(events, sensor_size)  # dtype, time order, coordinates inside the sensor
    key = (events["t"].astype(np.float64) * 1e6 + events["y"] * 1e3 + events["x"]).tolist()
    assert key == sorted(key)  # ties in t are ordered by (y, x)


# --- the pixel model ------------------------------------------------------------------------


@pytest.mark.parametrize(("before", "after", "polarity"), [(50, 200, 1), (200, 30, 0)])
def test_brightness_step_fires_k_events_at_crossing_times(before, after, polarity):
    stream = simulate_frames(_step_frames(before, after), [1000, 2000], IDEAL)
    k, times = _expected_crossings(before, after, 0.2, IDEAL.log_eps, 1000)
    assert k >= 3
    assert stream.sensor_size == (5, 4)
    assert len(stream) == k * 20
    assert (stream.events["p"] == polarity).all()
    for y in range(4):
        for x in range(5):
            mine = stream.events[(stream.events["x"] == x) & (stream.events["y"] == y)]
            np.testing.assert_allclose(mine["t"], np.array(times) + 1000, atol=1)
    _assert_sorted_in_sensor(stream.events, stream.sensor_size)


def test_reference_follows_so_a_step_fires_once():
    frames = np.concatenate([_step_frames(50, 200), np.full((3, 4, 5), 200, np.uint8)])
    stream = simulate_frames(frames, [0, 10, 20, 30, 40], IDEAL)
    k, _ = _expected_crossings(50, 200, 0.2, IDEAL.log_eps, 10)
    assert len(stream) == k * 20
    assert stream.events["t"].max() <= 10


def test_static_scene_without_noise_fires_nothing():
    frames = np.repeat(_smooth_video(0, 1), 6, axis=0)
    assert len(simulate_frames(frames, np.arange(6) * 1000, IDEAL)) == 0


def test_separate_on_and_off_thresholds():
    config = SimulatorConfig.ideal(pos_threshold=0.1, neg_threshold=0.4)
    up = simulate_frames(_step_frames(50, 200), [0, 100], config)
    down = simulate_frames(_step_frames(200, 50), [0, 100], config)
    assert len(up) == 20 * _expected_crossings(50, 200, 0.1, config.log_eps, 1)[0]
    assert len(down) == 20 * _expected_crossings(200, 50, 0.4, config.log_eps, 1)[0]


def test_seeded_runs_repeat_and_seeds_differ():
    video = _smooth_video(1)
    ts = np.arange(len(video)) * 2000
    first = simulate_frames(video, ts, NOISY)
    again = simulate_frames(video, ts, NOISY)
    other = simulate_frames(video, ts, replace(NOISY, seed=8))
    assert len(first) > 100
    np.testing.assert_array_equal(first.events, again.events)
    assert len(first) != len(other) or not np.array_equal(first.events, other.events)


def test_refractory_period_drops_close_events():
    # 50 -> 200 fires 6 crossings at 148, 296, 445, 593, 741, 889 us after the frame
    config = SimulatorConfig.ideal(refractory_us=300)
    stream = simulate_frames(_step_frames(50, 200), [0, 1000], config)
    pixel = stream.events[(stream.events["x"] == 0) & (stream.events["y"] == 0)]
    np.testing.assert_allclose(pixel["t"], [148, 593], atol=1)  # 296 and 445 and 889 are too close
    for y in range(4):
        for x in range(5):
            t = stream.events["t"][(stream.events["x"] == x) & (stream.events["y"] == y)]
            assert (np.diff(t) >= 300).all()


def test_refractory_period_carries_across_frames():
    frames = np.array([50, 200, 50], dtype=np.uint8)[:, None, None].repeat(2, 1).repeat(2, 2)
    free = simulate_frames(frames, [0, 1000, 1100], IDEAL)
    dead = simulate_frames(frames, [0, 1000, 1100], SimulatorConfig.ideal(refractory_us=500))
    assert (free.events["t"] > 1000).any()
    assert not (dead.events["t"] > 1000).any()  # the OFF burst comes < 500 us after the ON burst


def test_refractory_filter_is_pure_and_greedy():
    pixel = torch.tensor([0, 0, 0, 1, 0])
    t = torch.tensor([10, 15, 25, 12, 40])
    last = torch.tensor([-100, 11])
    keep, new_last = refractory_filter(pixel, t, last, 10)
    # pixel 0: 10 kept, 15 too close to 10, 25 kept, 40 kept; pixel 1: 12 too close to 11
    assert keep.tolist() == [True, False, True, False, True]
    assert new_last.tolist() == [40, 11]
    assert last.tolist() == [-100, 11]


def test_batch_equals_per_video_runs():
    videos = np.stack([_smooth_video(s) for s in range(3)])  # [3, T, H, W]
    ts = np.stack([np.arange(8) * 1000 + 500 * b for b in range(3)])  # [3, T]
    batch = simulate_batch(torch.from_numpy(videos), torch.from_numpy(ts), NOISY)
    assert len(batch) == 3
    for b, stream in enumerate(batch):
        alone = simulate_frames(videos[b], ts[b], replace(NOISY, seed=NOISY.seed + b))
        assert len(alone) > 100
        np.testing.assert_array_equal(stream.events, alone.events)
        _assert_sorted_in_sensor(stream.events, stream.sensor_size)


def test_streaming_simulator_matches_whole_video():
    video = _smooth_video(2)
    ts = np.arange(len(video)) * 3000
    sim = EventSimulator(NOISY)
    parts = [sim.step(frame, int(t)) for frame, t in zip(video, ts, strict=True)]
    assert len(parts[0]) == 0 and sim.sensor_size == (24, 20)
    np.testing.assert_array_equal(np.concatenate(parts), simulate_frames(video, ts, NOISY).events)
    sim.reset()
    assert sim.sensor_size is None


def test_rgb_frames_use_luma():
    video = (_smooth_video(3) * 255).astype(np.uint8)
    rgb = np.repeat(video[..., None], 3, axis=-1)
    ts = np.arange(len(video)) * 1000
    grey = simulate_frames(video, ts, IDEAL)
    colour = simulate_frames(rgb, ts, IDEAL)
    assert len(grey) > 0 and len(colour) > 0
    assert abs(len(grey) - len(colour)) <= 0.01 * len(grey)  # luma of grey RGB is the grey


def test_shot_noise_rate_matches_configuration():
    frames = np.full((11, 32, 32), 128, np.uint8)  # 1 s of a still scene
    config = SimulatorConfig.ideal(shot_noise_rate_hz=5.0)
    stream = simulate_frames(frames, np.arange(11) * 100_000, config)
    expected = 5.0 * 32 * 32  # Poisson: standard deviation ~72
    assert abs(len(stream) - expected) < 5 * math.sqrt(expected)
    assert 0.4 < stream.events["p"].mean() < 0.6


def test_leak_fires_on_events_at_the_leak_rate():
    frames = np.full((11, 32, 32), 128, np.uint8)
    config = SimulatorConfig.ideal(leak_rate_hz=2.0)
    stream = simulate_frames(frames, np.arange(11) * 100_000, config)
    assert (stream.events["p"] == 1).all()
    assert abs(len(stream) - 2.0 * 32 * 32) < 0.1 * 2.0 * 32 * 32


def test_hot_pixels_fire_on_events_from_few_pixels():
    frames = np.full((6, 32, 32), 128, np.uint8)
    config = SimulatorConfig.ideal(hot_pixel_fraction=0.01, hot_pixel_rate_hz=200.0)
    stream = simulate_frames(frames, np.arange(6) * 20_000, config)
    pixels = set(zip(stream.events["x"].tolist(), stream.events["y"].tolist(), strict=True))
    assert 1 <= len(pixels) <= 30
    assert len(stream) > 5 * len(pixels) and (stream.events["p"] == 1).all()


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="white level"):
        simulate_frames(np.full((2, 3, 3), 2.0, np.float32), [0, 1], IDEAL)
    with pytest.raises(ValueError, match="strictly increasing"):
        simulate_frames(np.zeros((3, 3, 3), np.uint8), [0, 2, 1], IDEAL)
    with pytest.raises(ValueError, match="positive"):
        SimulatorConfig(pos_threshold=0.0)
    with pytest.raises(ValueError, match=r"\[T, H, W\]"):
        simulate_frames(np.zeros((3, 3), np.uint8), [0, 1, 2], IDEAL)


def test_inputs_are_not_modified():
    video = _smooth_video(4)
    copy = video.copy()
    simulate_frames(video, np.arange(len(video)) * 1000, NOISY)
    np.testing.assert_array_equal(video, copy)


# --- camera motions ------------------------------------------------------------------------


def test_saccade_motion_shapes_and_closed_triangle():
    image = (np.random.default_rng(0).random((28, 28)) * 255).astype(np.uint8)
    frames, ts = saccade_motion(image, sensor_size=(34, 34), n_frames=31, duration_us=300_000)
    assert frames.shape == (31, 34, 34) and frames.dtype == torch.float32
    assert ts.tolist()[0] == 0 and ts.tolist()[-1] == 300_000 and (ts.diff() > 0).all()
    assert torch.allclose(frames[0], frames[-1], atol=1e-5)  # the triangle closes
    assert not torch.allclose(frames[0], frames[10], atol=1e-2)
    rgb, _ = saccade_motion(np.stack([image] * 3, -1), n_frames=4)
    assert rgb.shape == (4, 28, 28, 3)


def test_affine_motion_starts_at_the_image_and_is_seeded():
    image = (_smooth_video(5, 1)[0] * 255).astype(np.uint8)
    frames, ts = random_affine_motion(image, n_frames=12, duration_us=120_000, seed=3)
    assert frames.shape == (12, 20, 24) and ts.shape == (12,)
    still = torch.from_numpy(image / 255.0).float()
    torch.testing.assert_close(frames[0], still, atol=1e-4, rtol=0)
    again, _ = random_affine_motion(image, n_frames=12, duration_us=120_000, seed=3)
    other, _ = random_affine_motion(image, n_frames=12, duration_us=120_000, seed=4)
    assert torch.equal(frames, again) and not torch.equal(frames, other)


@pytest.mark.parametrize("motion", ["saccade", "affine"])
def test_simulate_image_events_sorted_inside_sensor(motion):
    image = (np.random.default_rng(1).random((28, 28)) * 255).astype(np.uint8)
    stream = simulate_image(image, motion, NOISY, sensor_size=(34, 34), n_frames=31)
    assert stream.sensor_size == (34, 34) and stream.events.dtype == EVENT_DTYPE
    assert len(stream) > 500
    assert stream.events["t"].min() >= 0 and stream.events["t"].max() <= 300_000
    _assert_sorted_in_sensor(stream.events, stream.sensor_size)
    with pytest.raises(ValueError, match="unknown motion"):
        simulate_image(image, "zoom")


# --- dataset synthesis ---------------------------------------------------------------------


@pytest.fixture
def image_tree(tmp_path):
    root = tmp_path / "images"
    rng = np.random.default_rng(0)
    for label, name in (("cat", "a.png"), ("dog", "b.jpg")):
        (root / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((24, 32, 3)) * 255).astype(np.uint8)).save(root / label / name)
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    return root


def _manifest(out):
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def _counting_run_job(monkeypatch, fail_after: int | None = None) -> list[str]:
    calls: list[str] = []
    real = synth.run_job

    def counted(job, *args):
        if fail_after is not None and len(calls) >= fail_after:
            raise KeyboardInterrupt("simulated interruption")
        calls.append(job.image)
        return real(job, *args)

    monkeypatch.setattr(synth, "run_job", counted)
    return calls


SYNTH_OPTIONS = {"config": IDEAL, "workers": 1, "progress": False, "n_frames": 16}


def test_synthesize_folder_writes_outputs_manifest_and_skips_finished(
    image_tree, tmp_path, monkeypatch
):
    out = tmp_path / "events"
    summary = synth.synthesize_folder(image_tree, out, **SYNTH_OPTIONS)
    assert (summary.written, summary.skipped, len(summary.failed)) == (2, 0, 1)
    assert "broken.png" in summary.failed[0][0]
    rows = _manifest(out)
    assert [r["status"] for r in rows] == ["ok", "ok", "failed"]  # sorted by class, image
    for row in (r for r in rows if r["status"] == "ok"):
        stream = read_events(out / row["events"])
        assert len(stream) == row["n_events"] > 0 and stream.sensor_size == (32, 24)
    assert not (out / synth.PARTIAL_NAME).exists()
    files = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert files == ["a.npz", "b.npz", "manifest.jsonl"]

    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")}
    calls = _counting_run_job(monkeypatch)
    again = synth.synthesize_folder(image_tree, out, **SYNTH_OPTIONS)
    assert (again.written, again.skipped) == (0, 2)
    assert calls == [str(image_tree / "dog" / "broken.png")]  # only the failure is retried
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")} == mtimes
    assert [r.get("n_events") for r in _manifest(out)] == [r.get("n_events") for r in rows]


def test_synthesize_folder_resumes_after_an_interruption(image_tree, tmp_path, monkeypatch):
    out = tmp_path / "events"
    _counting_run_job(monkeypatch, fail_after=1)
    with pytest.raises(KeyboardInterrupt):
        synth.synthesize_folder(image_tree, out, **SYNTH_OPTIONS)
    assert [p.name for p in out.rglob("*.npz")] == ["a.npz"]
    assert not list(out.rglob("*.tmp*"))  # nothing half-written
    monkeypatch.undo()
    calls = _counting_run_job(monkeypatch)
    summary = synth.synthesize_folder(image_tree, out, **SYNTH_OPTIONS)
    assert (summary.written, summary.skipped) == (1, 1)
    assert sorted(os.path.basename(c) for c in calls) == ["b.jpg", "broken.png"]
    assert [r["status"] for r in _manifest(out)] == ["ok", "ok", "failed"]


def test_synthesize_is_deterministic_across_worker_counts(image_tree, tmp_path):
    options = {**SYNTH_OPTIONS, "config": NOISY, "motion": "affine"}
    one = tmp_path / "one"
    two = tmp_path / "two"
    synth.synthesize_folder(image_tree, one, **options)
    synth.synthesize_folder(image_tree, two, **{**options, "workers": 2})
    for name in ("cat/a.npz", "dog/b.npz"):
        first, second = read_events(one / name), read_events(two / name)
        np.testing.assert_array_equal(first.events, second.events)


def test_stable_seed_depends_on_path_and_base_seed():
    assert synth.stable_seed("cat/a.png") == synth.stable_seed("cat/a.png")
    assert synth.stable_seed("cat/a.png") != synth.stable_seed("cat/b.png")
    assert synth.stable_seed("cat/a.png", 1) != synth.stable_seed("cat/a.png", 0)
    assert 0 <= synth.stable_seed("x") < 2**63


# --- command line --------------------------------------------------------------------------


def test_cli_simulate_png_writes_readable_npz(tmp_path, capsys):
    image = tmp_path / "digit.png"
    Image.fromarray((np.random.default_rng(2).random((28, 28)) * 255).astype(np.uint8)).save(image)
    out = tmp_path / "digit.npz"
    argv = ["simulate", str(image), str(out), "--sensor-size", "34", "34", "--n-frames", "31"]
    assert main([*argv, "--quiet", "--threshold-sigma", "0", "--leak-rate-hz", "0"]) == 0
    summary = json.loads(capsys.readouterr().out)
    stream = read_events(out)
    assert summary["events"] == len(stream) > 0
    assert stream.sensor_size == (34, 34) and summary["kind"] == "image"


def test_cli_simulate_folder_of_frames_streams_to_file(tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate((_smooth_video(6) * 255).astype(np.uint8)):
        Image.fromarray(frame).save(folder / f"{i:03d}.png")
    out = tmp_path / "clip.npz"
    assert main(["simulate", str(folder), str(out), "--fps", "1000", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    stream = read_events(out)
    assert summary["frames"] == 8 and summary["events"] == len(stream) > 0
    assert stream.events["t"].max() <= 7000


def test_cli_simulate_unreadable_video_fails_cleanly(tmp_path, capsys):
    bogus = tmp_path / "clip.mp4"
    bogus.write_bytes(b"not a video at all")
    assert main(["simulate", str(bogus), str(tmp_path / "o.npz"), "--quiet"]) == 2
    assert "clip.mp4" in capsys.readouterr().err
    assert not (tmp_path / "o.npz").exists()


def test_cli_synthesize_runs_a_tree(image_tree, tmp_path, capsys):
    out = tmp_path / "events"
    argv = ["synthesize", str(image_tree), str(out), "--workers", "1", "--n-frames", "12"]
    assert main([*argv, "--quiet", "--motion", "affine"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == 2 and len(summary["failed"]) == 1
    assert (out / "manifest.jsonl").is_file()


def test_argsort_stable_matches_torch_stable_sort():
    from evclip.simulate.functional import argsort_stable, flatnonzero

    gen = torch.Generator().manual_seed(0)
    for high in (50, 2**40):  # the radix path and the general path
        keys = torch.randint(0, high, (5000,), generator=gen)
        assert torch.equal(argsort_stable(keys), torch.sort(keys, stable=True).indices)
    values = torch.tensor([0.0, 1.5, 0.0, -2.0])
    assert flatnonzero(values).tolist() == [1, 3]


# --- lin-log curve, numba path, animated images -------------------------------------------


def test_srgb_to_linear_and_lin_log_follow_their_definitions():
    from evclip.simulate.functional import lin_log, srgb_to_linear

    encoded = torch.tensor([0.0, 0.04, 0.5, 1.0])
    expected = [0.0, 0.04 / 12.92, ((0.5 + 0.055) / 1.055) ** 2.4, 1.0]
    assert torch.allclose(srgb_to_linear(encoded), torch.tensor(expected), atol=1e-6)
    level = torch.tensor([0.0, 10.0, 20.0, 100.0]) / 255  # v2e: x ln(20) / 20 below 20, ln x above
    curve = lin_log(level, 20 / 255)
    want = [0.0, 10 * math.log(20) / 20, math.log(20), math.log(100)]
    assert torch.allclose(curve, torch.tensor(want), atol=1e-5)
    assert torch.equal(level, torch.tensor([0.0, 10.0, 20.0, 100.0]) / 255)  # input unchanged


def test_linlog_matches_eventcv_event_counts():
    eventcv = pytest.importorskip("eventcv")
    rng = np.random.default_rng(5)
    grey = rng.integers(0, 256, (6, 12, 16), dtype=np.uint8)
    rgb = rng.integers(0, 256, (6, 12, 16, 3), dtype=np.uint8)
    matched = {
        "pos_thres": 0.2, "neg_thres": 0.2, "sigma_thres": 0.0, "refractory_us": 0,
        "cutoff_hz": 0.0, "leak_rate_hz": 0.0, "shot_noise_rate_hz": 0.0, "upsample": "off",
    }  # fmt: skip
    config = SimulatorConfig.ideal(intensity_curve="linlog")
    ts = np.arange(6) * 1000
    for frames in (grey, rgb):
        theirs = eventcv.simulate(frames, fps=1000, **matched)
        mine = simulate_frames(frames, ts, config)
        assert abs(len(mine) - len(theirs)) <= 0.002 * len(theirs)
    assert len(simulate_frames(grey, ts, IDEAL)) < 0.8 * len(mine)  # log of encoded values: fewer


def test_config_rejects_unknown_curve_and_bad_linlog_threshold():
    with pytest.raises(ValueError, match="intensity_curve"):
        SimulatorConfig(intensity_curve="gamma")
    with pytest.raises(ValueError, match="linlog_threshold"):
        SimulatorConfig(linlog_threshold=0.5 / 255)


@pytest.mark.parametrize(
    "config",
    [
        IDEAL,
        SimulatorConfig(seed=4),
        SimulatorConfig(intensity_curve="linlog", shot_noise_rate_hz=3000.0, seed=2),
        SimulatorConfig(hot_pixel_fraction=0.05, cutoff_hz=200.0, leak_rate_hz=4.0, seed=9),
    ],
)
@pytest.mark.parametrize("as_float", [False, True])
def test_numba_and_torch_paths_give_identical_events(monkeypatch, config, as_float):
    from evclip.simulate import _kernels

    if not _kernels.USE_NUMBA:
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(11)
    video = rng.integers(0, 256, (9, 13, 21), dtype=np.uint8)
    frames = video.astype(np.float32) / 255 if as_float else video
    ts = np.cumsum(rng.integers(1, 4000, 9))
    fast = simulate_frames(frames, ts, config).events
    monkeypatch.setattr(_kernels, "USE_NUMBA", False)
    slow = simulate_frames(frames, ts, config).events
    assert len(fast) > 100
    np.testing.assert_array_equal(fast, slow)
    check_events(fast, (21, 13))


@pytest.mark.parametrize("max_gap_us", [200, 300_000, 2**31])  # sort keys of 1, 3 digits; torch
def test_numba_path_any_frame_interval(monkeypatch, max_gap_us):
    from evclip.simulate import _kernels

    if not _kernels.USE_NUMBA:
        pytest.skip("numba is not installed")
    rng = np.random.default_rng(5)
    video = rng.integers(0, 256, (6, 17, 23), dtype=np.uint8)
    ts = np.cumsum(rng.integers(max_gap_us // 2, max_gap_us, 6))
    fast = simulate_frames(video, ts, IDEAL).events
    monkeypatch.setattr(_kernels, "USE_NUMBA", False)
    slow = simulate_frames(video, ts, IDEAL).events
    assert len(fast) > 100
    np.testing.assert_array_equal(fast, slow)


def test_numba_path_streaming_equals_whole_clip():
    video = np.random.default_rng(3).integers(0, 256, (7, 10, 12), dtype=np.uint8)
    config = SimulatorConfig(shot_noise_rate_hz=5000.0, seed=1)
    ts = np.arange(7) * 700
    sim = EventSimulator(config)
    parts = [sim.step(frame, t) for frame, t in zip(video, ts, strict=True)]
    np.testing.assert_array_equal(np.concatenate(parts), simulate_frames(video, ts, config).events)


def test_uint8_above_max_intensity_still_raises():
    video = np.full((3, 4, 4), 90, dtype=np.uint8)
    video[1, 2, 2] = 120
    with pytest.raises(ValueError, match="white level 100"):
        simulate_frames(video, [0, 10, 20], SimulatorConfig(max_intensity=100))


def test_cli_simulate_animated_gif_is_read_as_a_video(tmp_path, capsys):
    frames = (_smooth_video(6) * 255).astype(np.uint8)
    images = [Image.fromarray(frame) for frame in frames]
    gif = tmp_path / "clip.gif"
    images[0].save(gif, save_all=True, append_images=images[1:], duration=20, loop=0)
    out = tmp_path / "clip.npz"
    assert main(["simulate", str(gif), str(out), "--quiet", "--intensity-curve", "linlog"]) == 0
    summary = json.loads(capsys.readouterr().out)
    stream = read_events(out)
    assert summary["kind"] == "animation" and summary["frames"] == len(frames)
    assert summary["events"] == len(stream) > 0
    assert stream.sensor_size == (frames.shape[2], frames.shape[1])
    assert stream.events["t"].max() <= 20_000 * (len(frames) - 1)  # the GIF's 20 ms per frame
