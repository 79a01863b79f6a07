"""Address search over ``service_point`` (vendor-apis.md §2.6): a customer's typed address -> ranked premises.

The query is normalized exactly as the loader normalized ``norm_line1`` (``address.normalize_line``), so
"206 Boxwood Drive" and "206 BOXWOOD DR" are the same text before any fuzzy matching.

PostgreSQL: trigram similarity (pg_trgm), ``similarity(norm_line1, q)``, in two steps:

1. When the query starts with a house number, the candidates are the premises with that number
   (``norm_line1 LIKE '206 %'``, the btree ``ix_service_point_norm_line1_prefix``, migration 0010) whose
   similarity reaches the threshold. On 5 million premises this is a few hundred rows, not millions.
2. When that finds nothing (no number, a mistyped number, or no premise with it), ``norm_line1 % q``
   over the trigram GIN index ``ix_service_point_norm_line1_trgm`` (migration 0010); with a ZIP,
   the ZIP's premises are scored instead (the ZIP's btree; cheaper than the trigram lists). The ``%``
   threshold is ``pg_trgm.similarity_threshold``, set with ``set_config(..., true)`` (SET LOCAL): it lasts
   for the caller's transaction only, so ``conn`` must not be an autocommit connection.

Why not the trigram index alone: a query's common trigrams (those of "DR", of a leading digit) list
millions of rows each, so ``%`` over 5 million premises took 0.1-1 s (measured); people rarely mistype
their house number, and premises with it are what they look for.

SQLite (development, small tables): no trigrams. A premise is a candidate when its ``norm_line1`` holds
every token of the query (``LIKE '%token%'``, AND); its score is the share of query tokens that are whole
words of the address, then how close the lengths are. A misspelled word therefore finds nothing there.

Both rank not-Inactive premises first, then by score (descending), then by ESIID.
"""

from __future__ import annotations

import sqlalchemy as sa

from intelliwatt_pipelines.address import normalize_line

THRESHOLD = 0.3  # pg_trgm's default: "206 BOXWOD DR" is 0.53 to "206 BOXWOOD DR"
SQLITE_CANDIDATES = 5000  # a fallback for small tables: past this many token matches, the rest are not ranked
FIELDS = ("esiid", "tdsp", "address", "address_overflow", "city", "state", "zip", "premise_type", "status")
_COLUMNS = ("esiid, tdsp_code AS tdsp, address, address_overflow, city, state, zip5 AS zip, premise_type, "
            "status")

_SELECT = f"SELECT {_COLUMNS}, similarity(norm_line1, :q) AS score FROM service_point WHERE "
_ORDER = " ORDER BY status = 'Inactive', score DESC, esiid LIMIT :limit"


def statement(zip5: str | None, *, by_number: bool = False) -> sa.TextClause:
    """The PostgreSQL query: by house number (step 1) or by trigrams (step 2); see the module's doc."""
    if by_number and zip5:
        # OFFSET 0 keeps the planner on the house number's rows (hundreds), not the ZIP's (tens of thousands:
        # measured 40 ms at p50 when it chose the ZIP's btree after a bulk load).
        return sa.text(f"SELECT * FROM ({_SELECT}norm_line1 LIKE :prefix OFFSET 0) s "
                       f"WHERE zip = :zip AND score >= :t{_ORDER}")
    if by_number:
        where = "norm_line1 LIKE :prefix AND similarity(norm_line1, :q) >= :t"
    elif zip5:
        # OFFSET 0 keeps the planner from ANDing in the trigram index: the ZIP's rows are fewer.
        return sa.text(f"SELECT * FROM ({_SELECT}zip5 = :zip OFFSET 0) s WHERE score >= :t{_ORDER}")
    else:
        where = "norm_line1 % :q"
    return sa.text(_SELECT + where + (" AND zip5 = :zip" if zip5 else "") + _ORDER)


def search(conn: sa.Connection, q: str, *, zip5: str | None = None, limit: int = 10,
           threshold: float = THRESHOLD) -> list[dict]:
    """Ranked candidates for the address ``q`` (optionally in one 5-digit ZIP): dicts of ``FIELDS`` and
    ``score`` (0-1). Empty when ``q`` normalizes to nothing."""
    norm = normalize_line(q)
    if not norm:
        return []
    if conn.dialect.name == "postgresql":
        return _postgres(conn, norm, zip5, limit, threshold)
    return _sqlite(conn, norm, zip5, limit)


def _postgres(conn, norm: str, zip5: str | None, limit: int, threshold: float) -> list[dict]:
    params = {"q": norm, "t": threshold, "limit": limit, "zip": zip5}
    number = norm.split(" ", 1)[0]
    rows = []
    if number.isdigit() and " " in norm:
        rows = conn.execute(statement(zip5, by_number=True), {**params, "prefix": number + " %"}).all()
    if not rows:
        # Local to the transaction: a pooled connection goes back with the server's default.
        conn.execute(sa.text("SELECT set_config('pg_trgm.similarity_threshold', :t, true)"), {"t": str(threshold)})
        rows = conn.execute(statement(zip5), params).all()
    return [{**row._mapping, "score": round(float(row.score), 4)} for row in rows]


def _sqlite(conn, norm: str, zip5: str | None, limit: int) -> list[dict]:
    tokens = norm.split()
    # Tokens are [A-Z0-9#] only (normalize_line drops the rest): no LIKE wildcard can reach the pattern.
    where = [f"norm_line1 LIKE :t{i}" for i in range(len(tokens))] + (["zip5 = :zip"] if zip5 else [])
    params = {f"t{i}": f"%{token}%" for i, token in enumerate(tokens)} | {"zip": zip5, "cap": SQLITE_CANDIDATES}
    rows = conn.execute(sa.text(f"SELECT {_COLUMNS}, norm_line1 FROM service_point WHERE {' AND '.join(where)} "
                                "ORDER BY esiid LIMIT :cap"), params)
    ranked = []
    for row in rows:
        found = dict(row._mapping)
        found["score"] = token_score(tokens, norm, found.pop("norm_line1"))
        ranked.append(found)
    ranked.sort(key=lambda r: (r["status"] == "Inactive", -r["score"], r["esiid"]))
    return ranked[:limit]


def token_score(tokens: list[str], query: str, line: str) -> float:
    """(whole-word matches + length closeness) / (tokens + 1): one more whole word always outranks any
    closeness (which is in (0, 1]), so the order is share first, closeness second."""
    words = set(line.split())
    share = sum(token in words for token in tokens)
    closeness = min(len(query), len(line)) / max(len(query), len(line), 1)
    return round((share + closeness) / (len(tokens) + 1), 4)
