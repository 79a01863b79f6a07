"""``python -m intelliwatt_pipelines.config --markdown``: print the README's configuration table."""

import sys

from intelliwatt_pipelines.config.table import markdown_table

if sys.argv[1:] != ["--markdown"]:
    sys.exit("usage: python -m intelliwatt_pipelines.config --markdown")
sys.stdout.write(markdown_table())
