"""Tests of ``evclip demo`` (end to end on a tiny benchmark) and of the run report."""

from __future__ import annotations

import json
import math
import re

import pytest

from evclip.engine.report import (
    ReportError,
    RunResult,
    aggregate,
    compare,
    format_cell,
    parse_table,
    read_run,
    results_table,
    write_report,
)

TABLE_HEADER = "| model | top-1 (%) | top-5 (%) | mean per-class (%) | seeds |"


# ---------------------------------------------------------------- the report on its own
def _result(key, seed, top1, top5=0.9, mpc=None, model=None, tmp=None):
    test = {
        "top1": top1,
        "top5": top5,
        "mean_per_class": top1 if mpc is None else mpc,
        "num_samples": 40,
    }
    return RunResult(key, model or key.upper(), seed, tmp or ".", test, {"top1": top1 + 0.01})


def test_aggregate_takes_mean_and_sample_std_over_seeds_in_model_order():
    results = [_result("b", 1, 0.50), _result("a", 0, 0.25), _result("b", 0, 0.70)]
    rows = aggregate(results)
    assert [r["key"] for r in rows] == ["b", "a"]  # order of first appearance
    b = rows[0]
    assert b["seeds"] == [0, 1]
    assert b["test"]["top1"]["values"] == [0.70, 0.50]  # sorted by seed
    assert math.isclose(b["test"]["top1"]["mean"], 0.60)
    assert math.isclose(b["test"]["top1"]["std"], math.sqrt(0.02))  # ddof=1
    assert rows[1]["test"]["top1"]["std"] is None  # one seed: no spread
    assert math.isclose(b["val"]["top1"]["mean"], 0.61)
    with pytest.raises(ReportError, match="seed listed twice"):
        aggregate([_result("a", 0, 0.1), _result("a", 0, 0.2)])


def test_cells_and_table_format_percentages_and_read_back():
    assert format_cell({"mean": 0.625, "std": None}) == "62.50"
    assert format_cell({"mean": 0.5, "std": 0.01234}) == "50.00 ± 1.23"
    rows = aggregate(
        [
            _result("s", 0, 0.6250, 0.875, 0.6),
            _result("s", 1, 0.6, 0.9, 0.61),
            _result("r", 0, 1 / 3),
        ]
    )
    table = results_table(rows)
    lines = table.splitlines()
    assert lines[0] == TABLE_HEADER
    assert lines[1] == "| --- | --- | --- | --- | --- |"
    assert lines[2] == "| S | 61.25 ± 1.77 | 88.75 ± 1.77 | 60.50 ± 0.71 | 2 |"
    assert lines[3] == "| R | 33.33 | 90.00 | 33.33 | 1 |"
    back = parse_table("intro text\n\n" + table + "\n\nafter")
    assert back["S"]["seeds"] == 2 and back["R"]["seeds"] == 1
    assert back["S"]["top1"] == {"mean": 0.6125, "std": 0.0177}
    assert back["R"]["top5"] == {"mean": 0.9, "std": None}
    with pytest.raises(ReportError, match="no results table"):
        parse_table("| something | else |")


def test_compare_calls_a_margin_clear_only_beyond_two_standard_errors():
    rows = aggregate([_result("s", 0, 0.50), _result("r", 0, 0.30), _result("e", 0, 0.46)])
    lines = compare(rows, "s")  # n = 40: se(0.5 vs 0.3) = 0.107, se(0.5 vs 0.46) = 0.112
    assert lines[0] == (
        "S vs R: +20.00 points of top-1 (standard error 10.72): within two standard errors: "
        "not a clear difference."
    )
    assert lines[1].startswith("S vs E: +4.00 points") and "not a clear" in lines[1]
    for row in rows:
        row["num_samples"] = 400
    lines = compare(rows, "s")
    assert lines[0].endswith("(standard error 3.39): a clear margin.")
    assert compare(rows, "r")[0].endswith("clearly worse.")
    with pytest.raises(ReportError, match="no model 'x'"):
        compare(rows, "x")


def test_read_run_names_the_file_when_results_are_missing(tmp_path):
    with pytest.raises(ReportError, match=r"metrics\.json: missing"):
        read_run(tmp_path, key="a", model="A", seed=0)
    (tmp_path / "metrics.json").write_text(json.dumps({"val": {"top1": 0.5}}))
    with pytest.raises(ReportError, match="no test results"):
        read_run(tmp_path, key="a", model="A", seed=0)
    (tmp_path / "metrics.json").write_text("{not json")
    with pytest.raises(ReportError, match="unreadable"):
        read_run(tmp_path, key="a", model="A", seed=0)
    (tmp_path / "metrics.json").write_text(
        json.dumps(
            {
                "val": {"top1": 0.5},
                "status": "finished",
                "test": {
                    "top1": 0.25,
                    "top5": 0.75,
                    "mean_per_class": 0.2,
                    "num_samples": 8,
                    "confusion": [[1]],
                    "per_class": [],
                },
            }
        )
    )
    result = read_run(tmp_path, key="a", model="A", seed=3)
    assert result.test == {"top1": 0.25, "top5": 0.75, "mean_per_class": 0.2, "num_samples": 8}
    assert result.val == {"top1": 0.5} and result.seed == 3


def test_write_report_copies_each_models_plots_and_refuses_nothing(tmp_path):
    run = tmp_path / "run"
    (run / "plots").mkdir(parents=True)
    (run / "plots" / "curves.png").write_bytes(b"png")
    results = [_result("s", 0, 0.5, tmp=run), _result("r", 0, 0.25, tmp=tmp_path / "none")]
    paths = write_report(
        tmp_path / "report",
        results,
        title="T",
        command="evclip demo x",
        notes=["a note"],
        extra={"wall_seconds": 1.5},
    )
    text = paths["report"].read_text()
    assert "evclip demo x" in text and "- a note" in text
    assert "![curves](plots/s/curves.png)" in text and "plots/r/" not in text
    assert (tmp_path / "report" / "plots" / "s" / "curves.png").read_bytes() == b"png"
    assert json.loads(paths["metrics"].read_text())["wall_seconds"] == 1.5
    with pytest.raises(ReportError, match="no finished runs"):
        write_report(tmp_path / "empty", [], title="T", command="c")


# ---------------------------------------------------------------- demo pieces
def test_demo_configs_differ_only_in_the_modality_they_read():
    from evclip.engine.config import config_differences, load_config

    safe = load_config("demo_safe")
    assert safe.method.name == "safe" and safe.method.args["modality"] == "both"
    assert safe.method.args["freeze"] == "all" and safe.run.feature_cache == "on"
    assert safe.data.val_split == "demo_val" and safe.data.test_split == "test"
    for name in ("rgb", "events"):
        floor = load_config(f"demo_{name}")
        assert floor.method.args["modality"] == name
        changed = config_differences(safe, floor)
        assert changed == ["method.args.modality", "run.out_dir"]


def test_carve_validation_is_per_class_disjoint_and_stable(tmp_path):
    from evclip.cli.demo import carve_validation

    lines = [
        f"action_{c + 1:03d}/sample_{c * 10 + i:05d} 5 {c}" for c in range(3) for i in range(10)
    ] + ["action_004/sample_00099 5 3"]
    (tmp_path / "train_label.txt").write_text("\n".join(lines) + "\n")
    sizes = carve_validation(tmp_path, fraction=0.2, seed=0)
    fit = (tmp_path / "demo_fit_label.txt").read_text().splitlines()
    val = (tmp_path / "demo_val_label.txt").read_text().splitlines()
    assert sizes == {"demo_fit": 25, "demo_val": 6}
    assert sorted(fit + val) == sorted(lines) and not set(fit) & set(val)
    assert [line.split()[2] for line in val].count("0") == 2  # a fifth of each class
    assert "action_004/sample_00099 5 3" in fit  # a class with one clip keeps it for training
    stamp = (tmp_path / "demo_val_label.txt").stat().st_mtime_ns
    carve_validation(tmp_path, fraction=0.2, seed=0)
    assert (tmp_path / "demo_val_label.txt").stat().st_mtime_ns == stamp  # not rewritten
    (tmp_path / "train_label.txt").write_text("bad line\n")
    with pytest.raises(ValueError, match="train_label.txt: line 1"):
        carve_validation(tmp_path)


# ---------------------------------------------------------------- evclip demo --quick
@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory):
    from evclip.cli.main import main

    out = tmp_path_factory.mktemp("demo") / "out"
    # the shipped tiny CLIP; two runs at a time, each an `evclip train` child process
    args = ["demo", str(out), "--quick", "--workers", "1", "--quiet", "--jobs", "2"]
    import contextlib
    import io

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = main(args)
    return out, status, stdout.getvalue(), args


def test_quick_demo_writes_a_report_whose_table_is_its_metrics(quick_demo):
    out, status, printed, _ = quick_demo
    assert status == 0
    report = out / "report"
    text = (report / "report.md").read_text()
    metrics = json.loads((report / "metrics.json").read_text())
    assert f"evclip demo {out} --quick\n" in text
    assert "CLIP: `evclip-tiny-bench`, frozen" in text
    table = parse_table(text)
    models = {row["model"]: row for row in metrics["models"]}
    assert list(table) == list(models) == ["SAFE (RGB + events + text)", "RGB only", "events only"]
    for name, row in models.items():
        assert table[name]["seeds"] == len(row["seeds"]) == 1
        for key in ("top1", "top5", "mean_per_class"):
            assert table[name][key]["mean"] == pytest.approx(row["test"][key]["mean"], abs=5e-5)
        run = json.loads((out / "runs" / row["key"] / "seed0" / "metrics.json").read_text())
        assert run["test"]["top1"] == row["test"]["top1"]["mean"]  # the engine's number
        assert run["test"]["num_samples"] == 10  # every test clip of the quick benchmark
        for plot in ("curves", "confusion", "tsne", "predictions"):
            assert (report / "plots" / row["key"] / f"{plot}.png").stat().st_size > 0
    assert TABLE_HEADER in printed
    assert parse_table(printed) == table  # the printed table is report.md's
    assert metrics["benchmark"]["validation"]["demo_val"] == 10


def test_quick_demo_reruns_from_what_it_has(quick_demo):
    from evclip.cli.main import main

    out, _, _, args = quick_demo
    before = json.loads((out / "report" / "metrics.json").read_text())
    # an interrupted run: its results are gone but its checkpoint is there
    (out / "runs" / "rgb" / "seed0" / "metrics.json").unlink()
    assert main(args) == 0
    after = json.loads((out / "report" / "metrics.json").read_text())
    states = {k: v["state"] for k, v in after["seconds"].items() if isinstance(v, dict)}
    assert states == {"safe/seed0": "done", "rgb/seed0": "resume", "events/seed0": "done"}
    for old, new in zip(before["models"], after["models"], strict=True):
        assert old["test"] == new["test"]


def test_runs_in_this_process_give_what_the_child_processes_gave(quick_demo, tmp_path):
    from evclip.cli.main import main

    out, _, _, args = quick_demo
    side_by_side = json.loads((out / "report" / "metrics.json").read_text())
    here = tmp_path / "in_turn"
    bench = ["--benchmark", str(out / "benchmark")]
    assert main(["demo", str(here), "--quick", "--quiet", "--jobs", "1", *bench]) == 0
    in_turn = json.loads((here / "report" / "metrics.json").read_text())
    assert [m["test"] for m in in_turn["models"]] == [m["test"] for m in side_by_side["models"]]
    assert not (here / "runs" / "safe" / "seed0" / "train.log").exists()  # no child process
    assert (out / "runs" / "safe" / "seed0" / "train.log").stat().st_size > 0


def test_a_run_trained_by_other_code_is_reused_with_a_warning(quick_demo, capsys):
    from evclip.cli.main import main
    from evclip.engine.experiment import code_identity

    out, _, _, args = quick_demo
    path = out / "runs" / "events" / "seed0" / "metrics.json"
    text = path.read_text()
    metrics = json.loads(text)
    assert metrics["code"] == code_identity()  # each run records the code that trained it
    capsys.readouterr()
    assert main(args) == 0
    assert "warning" not in capsys.readouterr().err
    path.write_text(json.dumps({**metrics, "code": {"evclip": "0.0.1", "source": "0000"}}))
    try:
        assert main(args) == 0
    finally:
        path.write_text(text)
    err = capsys.readouterr().err
    assert f"warning: {path.parent} was trained by evclip 0.0.1 (0000)" in err
    assert "delete the folder to train it again" in err


def test_demo_refuses_a_run_folder_of_another_experiment(quick_demo, capsys):
    from evclip.cli.main import main

    out, _, _, args = quick_demo
    config = out / "runs" / "safe" / "seed0" / "config.yaml"
    text = config.read_text()
    config.write_text(re.sub(r"dim: 32", "dim: 48", text))
    try:
        assert main(args) == 2
    finally:
        config.write_text(text)
    err = capsys.readouterr().err
    assert "holds a run with different settings (method.args.dim)" in err


def test_ablations_share_the_demo_run_and_change_one_setting_each(quick_demo):
    import contextlib
    import io

    from evclip.cli.demo import ABLATIONS
    from evclip.cli.main import main
    from evclip.engine.config import config_differences, config_from_dict, load_yaml

    out, _, _, args = quick_demo
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert main([*args, "--ablations"]) == 0
    report = out / "report_ablations"
    metrics = json.loads((report / "metrics.json").read_text())
    assert [row["model"] for row in metrics["models"]] == [m.name for m in ABLATIONS]
    assert metrics["seconds"]["safe/seed0"]["state"] == "done"  # the demo's SAFE run, reused
    assert f"evclip demo {out} --quick --ablations\n" in (report / "report.md").read_text()
    assert parse_table(stdout.getvalue()) == parse_table((report / "report.md").read_text())

    def saved(key):
        path = out / "runs" / key / "seed0" / "config.yaml"
        return config_from_dict(load_yaml(path.read_text()))

    paper = saved("safe")
    for model in ABLATIONS[1:]:
        changed = config_differences(paper, saved(model.key))
        expected = sorted(o.split("=")[0] for o in model.overrides)
        assert sorted(k for k in changed if k != "run.out_dir") == expected, model.key

    # the linear probes on the same frozen tokens: in the report, and `evclip probe` of the same
    # config reads the same cache and finds the same numbers
    probes = metrics["linear_probes"]
    assert [p["pooling"] for p in probes] == ["frames", "mean"]
    assert all(0.0 <= p["test_top1"] <= p["test_top5"] <= 1.0 for p in probes)
    assert "Linear probes on the same frozen CLIP tokens" in (report / "report.md").read_text()
    cache_entries = sorted(p.name for p in (out / "cache").iterdir())
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = main([
            "probe", "demo_safe", f"data.root={out / 'benchmark'}", "data.train_split=demo_fit",
            "data.val_split=demo_val", f"run.cache_dir={out / 'cache'}", "--quiet",
        ])  # fmt: skip
    assert status == 0
    assert json.loads(stdout.getvalue()) == probes
    assert sorted(p.name for p in (out / "cache").iterdir()) == cache_entries  # nothing new
