"""``python -m intelliwatt_pipelines.cli``: the same as the ``intelliwatt`` console script."""

import sys

from intelliwatt_pipelines.cli import main

sys.exit(main())
