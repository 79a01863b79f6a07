"""The README's column tables, rendered from the declarations. Each table's rows stand in the
README between ``<!-- columns:<table>:begin ... -->`` and ``<!-- columns:<table>:end -->``, so the
prose around them stays hand-written; ``test_fields`` compares them."""

from __future__ import annotations

from intelliwatt_pipelines.cdm.fields import TABLES, Field, constraints, type_label

COMMAND = "python -m intelliwatt_pipelines.cdm.fields --markdown"


def begin_marker(table: str) -> str:
    return f"<!-- columns:{table}:begin (generated: {COMMAND} {table}) -->"


def end_marker(table: str) -> str:
    return f"<!-- columns:{table}:end -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a pipe, even inside backticks, would end the cell


def _row(f: Field) -> str:
    kind = f"`{type_label(f)}`" + (" or null" if f.nullable else "")
    return f"| `{f.name}` | {kind} | {_cell('; '.join(constraints(f)))} | {_cell(f.description)} |"


def markdown_table(table: str, fields: tuple[Field, ...] | None = None) -> str:
    """One table's column rows, as they stand between its README markers."""
    rows = ["| column | type | values | meaning |", "|---|---|---|---|"]
    rows += [_row(f) for f in (TABLES[table] if fields is None else fields)]
    return "\n".join(rows) + "\n"


def markdown_blocks() -> str:
    """Every table's rows between its markers, ready to paste."""
    return "\n".join(f"{begin_marker(t)}\n{markdown_table(t)}{end_marker(t)}\n" for t in TABLES)
