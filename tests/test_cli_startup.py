"""Start-up cost of the command line: the light commands never import torch, and on small files
never numba (issue 7, item 11).

Each check runs in a fresh interpreter, since this test process has torch loaded already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from evclip.io import EventStream, make_events, write_events

HEAVY = ("torch", "transformers", "h5py")


def _modules_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; returns which heavy modules it left loaded."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps({{m: m in sys.modules for m in {HEAVY + ('numba',)!r}}}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_help_and_the_package_layers_do_not_import_torch():
    code = (
        "import evclip, evclip.io, evclip.representations, evclip.simulate, "
        "evclip.simulate.workers, evclip.simulate.synthesize\n"
        "from evclip.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "for command in ('info', 'convert', 'render', 'simulate', 'synthesize', 'synth-dataset'):\n"
        "    try:\n        main([command, '--help'])\n    except SystemExit:\n        pass\n"
    )
    loaded = _modules_after(code)
    assert not any(loaded[m] for m in HEAVY), loaded


def test_info_and_convert_to_npz_do_not_import_torch_or_numba(tmp_path):
    rng = np.random.default_rng(0)
    events = make_events(
        rng.integers(0, 40, 300), rng.integers(0, 30, 300), np.arange(300) * 10, np.ones(300)
    )
    source = tmp_path / "small.npz"
    write_events(source, EventStream(events, (40, 30)))
    target = tmp_path / "copy.npz"
    code = (
        "from evclip.cli.main import main\n"
        f"assert main(['info', {str(source)!r}]) == 0\n"
        f"assert main(['convert', {str(source)!r}, {str(target)!r}, '--quiet']) == 0\n"
    )
    loaded = _modules_after(code)
    assert not any(loaded.values()), loaded
    assert target.is_file()


def _run_fresh(code: str, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter (extra environment variables ``env``); returns the
    JSON object its last output line prints."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_render_of_a_small_file_imports_neither_numba_nor_torch(tmp_path):
    rng = np.random.default_rng(1)
    n = 20_000
    events = make_events(
        rng.integers(0, 64, n), rng.integers(0, 48, n), np.sort(rng.integers(0, 10**5, n)),
        rng.integers(0, 2, n),
    )  # fmt: skip
    source = tmp_path / "small.npz"
    write_events(source, EventStream(events, (64, 48)))
    targets = [tmp_path / "strip.png", tmp_path / "anim.gif"]
    code = "from evclip.cli.main import main\n" + "".join(
        f"assert main(['render', {str(source)!r}, {str(target)!r}, '--frames', '8']) == 0\n"
        for target in targets
    )
    loaded = _modules_after(code)
    assert not any(loaded.values()), loaded
    assert all(target.stat().st_size > 0 for target in targets)


# Three calls of 1000 events against a break-even of 2500: numpy, numpy, then numba.
CHARGE_PROBE = """
import json, sys
import numpy as np
from evclip.io import make_events
from evclip.representations import _kernels, count_frames, limit_threads

rng = np.random.default_rng(0)
n = 1000
events = make_events(rng.integers(0, 40, n), rng.integers(0, 30, n), np.arange(n), np.ones(n))
_kernels.NUMBA_BREAK_EVEN["count_slices"] = 2500
limit_threads(1)  # before numba: kept until this thread's first numba call
frames, imported = [], []
for _ in range(3):
    frames.append(count_frames(events, (40, 30), 4))
    imported.append("numba" in sys.modules)
threads = sys.modules["numba"].get_num_threads() if imported[-1] else None
same = all(np.array_equal(f, frames[0]) for f in frames)
print(json.dumps({"imported": imported, "threads": threads, "same": same,
                  "use": _kernels.USE_NUMBA, "total": int(frames[0].sum())}))
"""


def test_kernels_import_numba_only_once_the_events_repay_it():
    result = _run_fresh(CHARGE_PROBE, NUMBA_NUM_THREADS="2")
    assert result["use"] is None  # the default: numba by the charge rule
    assert result["imported"] == [False, False, True]
    assert result["threads"] == 1  # the limit set before numba was imported
    assert result["same"] and result["total"] > 900  # numba counts as numpy did


def test_no_numba_env_var_never_imports_numba_whatever_the_charge():
    result = _run_fresh(CHARGE_PROBE, EVCLIP_NO_NUMBA="1")
    assert result["use"] is False
    assert result["imported"] == [False, False, False]
    assert result["same"] and result["total"] > 900


def test_simulate_package_still_exports_its_names_lazily():
    import evclip.simulate as simulate

    assert simulate.MOTIONS == ("saccade", "affine")
    assert callable(simulate.simulate_image) and callable(simulate.EventSimulator)
    assert "simulate_frames" in dir(simulate)
    try:
        simulate.no_such_name  # noqa: B018
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:
        raise AssertionError("an unknown attribute must raise AttributeError")
