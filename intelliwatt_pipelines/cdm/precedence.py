"""Which value a slot keeps when two sources deliver it (SMT and Green Button, say).

Within one source the revision rules decide (newer revision, then actual over estimated, then the
later delivery). Across sources an ordered list of ``source:quality`` patterns decides, first
match ranking highest; ``*`` matches anything. A zero placeholder (``filled``) always ranks last,
whatever the list says: a placeholder never overwrites a reading. Equal ranks fall back to the
revision rules. The value that loses stays in its raw file (``raw_file_coverage`` lists it).
Between values of different lengths the finer real data wins instead (see ``intervals._overlap_losers``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from intelliwatt_pipelines.config import DEFAULT_SOURCE_PRECEDENCE as DEFAULT
from intelliwatt_pipelines.config.values import precedence_patterns


@dataclass(frozen=True)
class Precedence:
    patterns: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str = DEFAULT) -> Precedence:
        return cls(precedence_patterns(text))

    @property
    def last(self) -> int:
        return len(self.patterns) + 1

    def sql_rank(self, source, quality) -> sa.ColumnElement:
        whens = []
        for i, (src, q) in enumerate(self.patterns):
            conds = [quality != "filled"]
            conds += [source == src] if src != "*" else []
            conds += [quality == q] if q != "*" else []
            whens.append((sa.and_(*conds), i))
        return sa.case((quality == "filled", self.last), *whens, else_=len(self.patterns))


DEFAULT_PRECEDENCE = Precedence.parse(DEFAULT)
