"""Start-up cost of the command line: the light commands never import torch (issue 7, item 11).

Each check runs in a fresh interpreter, since this test process has torch loaded already.
"""

from __future__ import annotations

import json
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
