"""``python -m evclip.cli``: the ``evclip`` command (torchrun-friendly, no runpy warning)."""

import sys

from evclip.cli.main import main

sys.exit(main())
