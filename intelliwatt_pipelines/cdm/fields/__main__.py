"""``python -m intelliwatt_pipelines.cdm.fields --markdown [TABLE]``: print the README's column
table of TABLE (what stands between its markers), or of every table with its markers."""

import sys

from intelliwatt_pipelines.cdm.fields import TABLES
from intelliwatt_pipelines.cdm.fields.markdown import markdown_blocks, markdown_table

args = sys.argv[1:]
if not args or args[0] != "--markdown" or len(args) > 2 or (len(args) == 2 and args[1] not in TABLES):
    sys.exit(f"usage: python -m intelliwatt_pipelines.cdm.fields --markdown [{'|'.join(TABLES)}]")
sys.stdout.write(markdown_table(args[1]) if len(args) == 2 else markdown_blocks())
