"""``dbplex analyze`` for PostgreSQL: findings read from the statistics views and the catalogs.

Every read goes through the source's admin pool and is scoped to the analysed schemas
(``[analyze.SOURCE] schemas``, default every schema but the system ones), except the top
statements, which ``pg_stat_statements`` keeps for the whole database. What the checks rest on:

- hit ratios: ``pg_statio_user_tables`` (heap and index blocks found in shared buffers against
  blocks read), judged once :data:`MIN_BLOCKS` blocks were asked for;
- sequential scans: ``pg_stat_user_tables`` ``seq_scan`` against ``idx_scan`` for tables of at
  least ``min_rows`` live rows and at least :data:`MIN_SEQ_SCANS` scans;
- unused, duplicate and prefix-redundant indexes: ``pg_index`` and ``pg_stat_user_indexes``
  (an index backing a constraint is never proposed for dropping);
- foreign keys without an index whose leading columns are the key's: ``pg_constraint``;
  each becomes a :class:`~dbplex.analyze.ProposedIndex`, and where ``hypopg`` is installed the
  finding carries the planner's cost of a lookup by the key before and after a hypothetical
  index;
- bloat: the dead-row ratio of ``pg_stat_user_tables`` (``n_dead_tup`` over live plus dead), not
  a page-level estimate: it says what vacuum has not yet reclaimed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from dbplex.analyze import Finding, MigrationFile, ProposedIndex, Severity
from dbplex.backends import Source
from dbplex.config import AnalyzeSourceConfig
from dbplex.errors import ConfigError
from dbplex.pool import Pool
from dbplex_pg.errors import query_failure

#: below this share of blocks found in shared buffers, a hit ratio is a finding.
HIT_RATIO = 0.99
#: blocks (hit plus read) a hit ratio needs before it is judged.
MIN_BLOCKS = 1000
#: sequential scans a table needs before "read mostly by sequential scans" is said of it.
MIN_SEQ_SCANS = 10
#: share of dead rows (of live plus dead) that is a bloat finding.
DEAD_RATIO = 0.2
#: statements of ``pg_stat_statements`` reported, by total execution time.
TOP_STATEMENTS = 5

_SYSTEM_SCHEMAS = """
SELECT nspname FROM pg_namespace
WHERE nspname NOT IN ('pg_catalog', 'information_schema')
  AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp\\_%'
ORDER BY nspname
"""

_HITS = """
SELECT coalesce(sum(heap_blks_hit), 0)::bigint AS heap_hit, coalesce(sum(heap_blks_read), 0)::bigint AS heap_read,
       coalesce(sum(idx_blks_hit), 0)::bigint AS idx_hit, coalesce(sum(idx_blks_read), 0)::bigint AS idx_read
FROM pg_statio_user_tables WHERE schemaname = ANY(%s)
"""

_TABLES = """
SELECT format('%%I.%%I', schemaname, relname) AS tbl, seq_scan, seq_tup_read, coalesce(idx_scan, 0) AS idx_scan,
       n_live_tup, n_dead_tup, last_vacuum, last_autovacuum
FROM pg_stat_user_tables WHERE schemaname = ANY(%s) ORDER BY 1
"""

_INDEXES = """
SELECT format('%%I.%%I', n.nspname, t.relname) AS tbl, format('%%I.%%I', n.nspname, i.relname) AS idx,
       x.indrelid AS relid, x.indisunique AS is_unique, x.indisprimary AS is_primary, x.indisvalid AS is_valid,
       EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid) AS backs_constraint,
       x.indnkeyatts AS nkeys, string_to_array(x.indkey::text, ' ')::int[] AS all_keys,
       string_to_array(x.indclass::text, ' ')::oid[] AS classes,
       string_to_array(x.indcollation::text, ' ')::oid[] AS collations,
       string_to_array(x.indoption::text, ' ')::int[] AS options,
       i.relam AS am, pg_get_expr(x.indexprs, x.indrelid) AS exprs, pg_get_expr(x.indpred, x.indrelid) AS pred,
       pg_relation_size(x.indexrelid) AS bytes, s.idx_scan, pg_get_indexdef(x.indexrelid) AS definition
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = x.indexrelid
WHERE n.nspname = ANY(%s)
ORDER BY 2
"""

_FOREIGN_KEYS = """
SELECT c.conname, format('%%I.%%I', n.nspname, t.relname) AS tbl, n.nspname, t.relname, c.conrelid AS relid,
       c.conkey::int2[] AS keys,
       (SELECT format('%%I.%%I', rn.nspname, r.relname) FROM pg_class r JOIN pg_namespace rn ON rn.oid = r.relnamespace
        WHERE r.oid = c.confrelid) AS refs,
       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE c.contype = 'f' AND n.nspname = ANY(%s)
ORDER BY 2, 1
"""

_EXTENSION = """
SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = %s
"""

#: a typical value of each column, from the planner's statistics (reading the table would count a scan).
_TYPICAL = """
SELECT attname, coalesce((most_common_vals::text::text[])[1], (histogram_bounds::text::text[])[1]) AS value
FROM pg_stats WHERE schemaname = %s AND tablename = %s AND attname = ANY(%s)
"""

_AVAILABLE = "SELECT 1 FROM pg_available_extensions WHERE name = %s"
_PRELOADED = "SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'"

#: a table as ``format('%I.%I', schema, table)`` writes it: two identifiers, quoted where needed.
_PART = r'(?:"(?:[^"]|"")+"|[a-z_][a-z0-9_$]*)'
_QUALIFIED = re.compile(rf"(?P<schema>{_PART})\.(?P<table>{_PART})")


def quote(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def index_name(table: str, columns: tuple[str, ...]) -> str:
    """``<table>_<columns>_idx``, within PostgreSQL's 63 bytes (a hash keeps a shortened one unique)."""
    name = f"{table}_{'_'.join(columns)}_idx"
    if len(name.encode()) <= 63:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name.encode()[:54].decode(errors='ignore')}_{digest}"


@dataclass(frozen=True)
class _Index:
    row: dict[str, Any]

    @property
    def keys(self) -> list[int]:
        """The key columns' numbers (0 for an expression), without INCLUDE columns."""
        return list(self.row["all_keys"][: self.row["nkeys"]])

    @property
    def plain(self) -> bool:
        """Key columns only: no expression, no predicate."""
        return self.row["exprs"] is None and self.row["pred"] is None

    @property
    def droppable(self) -> bool:
        return not (self.row["is_unique"] or self.row["is_primary"] or self.row["backs_constraint"])

    def same_as(self, other: _Index) -> bool:
        fields = ("relid", "all_keys", "nkeys", "classes", "collations", "options", "am", "exprs", "pred")
        return all(self.row[f] == other.row[f] for f in fields)

    def prefix_of(self, other: _Index) -> bool:
        """Whether ``other`` (plain, same access method) starts with every key of this one, and has more."""
        n = len(self.keys)
        return (
            self.plain
            and other.plain
            and self.row["relid"] == other.row["relid"]
            and self.row["am"] == other.row["am"]
            and self.row["all_keys"] == self.keys
            and n < len(other.keys)
            and self.keys == other.keys[:n]
            and all(self.row[f][:n] == other.row[f][:n] for f in ("classes", "collations", "options"))
        )


class PgAnalyzer:
    """The analysis backend of one PostgreSQL source; every read on an admin session."""

    def __init__(self, source: Source, pool: Pool, admin: Pool) -> None:
        self.source = source
        self._admin = admin

    def findings(self, settings: AnalyzeSourceConfig) -> list[Finding]:
        with self._session() as conn:
            schemas = self._schemas(conn, settings)
            where = f"schemas {', '.join(schemas)}" if settings.schemas else f"database {conn.info.dbname}"
            found = self._hit_ratios(conn, schemas, where)
            found += self._tables(conn, schemas, settings.min_rows)
            indexes = [_Index(r) for r in conn.execute(_INDEXES, [schemas]).fetchall()]
            found += self._unused(indexes) + self._duplicates(indexes)
            found += self._foreign_keys(conn, schemas, indexes)
            found += self._top_statements(conn)
        return found

    def index_migration(self, index: ProposedIndex) -> MigrationFile:
        """``CREATE INDEX CONCURRENTLY`` outside a transaction, and its ``DROP`` as the down part."""
        match = _QUALIFIED.fullmatch(index.table)
        if match is None:
            raise ValueError(f"table {index.table!r}: expected schema.table as format('%I.%I') writes it")
        columns = ", ".join(quote(c) for c in index.columns)
        unique = "UNIQUE " if index.unique else ""
        text = (
            "-- dbplex: transaction=false\n"
            f"-- proposed by dbplex analyze: an index on {index.table} ({', '.join(index.columns)})\n"
            f"CREATE {unique}INDEX CONCURRENTLY IF NOT EXISTS {quote(index.name)} ON {index.table} ({columns});\n"
            "\n-- dbplex:down\n"
            f"DROP INDEX CONCURRENTLY IF EXISTS {match['schema']}.{quote(index.name)};\n"
        )
        schema = match["schema"].strip('"')  # the same index name may be proposed in two schemas
        description = re.sub(r"\W", "_", f"index_{schema}_{index.name}", flags=re.ASCII)
        return MigrationFile(suffix="sql", description=description, text=text)

    # -- sessions -------------------------------------------------------------------------------

    @contextmanager
    def _session(self) -> Iterator[psycopg.Connection[Any]]:
        with self._admin.connection() as conn:
            factory = conn.row_factory
            conn.row_factory = dict_row
            try:
                yield conn
            except psycopg.Error as exc:
                raise query_failure(self.source.name, conn, exc) from exc
            finally:
                if not conn.closed:
                    conn.row_factory = factory

    def _schemas(self, conn: psycopg.Connection[Any], settings: AnalyzeSourceConfig) -> list[str]:
        present = [r["nspname"] for r in conn.execute(_SYSTEM_SCHEMAS).fetchall()]
        if not settings.schemas:
            return present
        missing = sorted(set(settings.schemas) - set(present))
        if missing:
            raise ConfigError(
                f"source {self.source.name!r}: `analyze.{self.source.name}.schemas` names {missing}, "
                f"not schemas of database {conn.info.dbname!r}"
            )
        return list(settings.schemas)

    # -- checks ---------------------------------------------------------------------------------

    def _hit_ratios(self, conn: psycopg.Connection[Any], schemas: list[str], where: str) -> list[Finding]:
        row = conn.execute(_HITS, [schemas]).fetchone() or {}
        found = []
        for kind, code, what in (("heap", "pg.cache_hit_ratio", "table"), ("idx", "pg.index_hit_ratio", "index")):
            hit, read = int(row.get(f"{kind}_hit", 0)), int(row.get(f"{kind}_read", 0))
            if hit + read < MIN_BLOCKS or hit / (hit + read) >= HIT_RATIO:
                continue
            ratio = hit / (hit + read)
            found.append(
                self._finding(
                    code,
                    Severity.WARNING,
                    where,
                    f"{ratio:.1%} of {what} blocks were found in shared buffers (below {HIT_RATIO:.0%})",
                    "raise shared_buffers if the working set should fit, or read less: see the "
                    "sequential-scan findings; the ratio counts since the statistics were last reset",
                    {"blocks_hit": hit, "blocks_read": read, "ratio": round(ratio, 4), "threshold": HIT_RATIO},
                )
            )
        return found

    def _tables(self, conn: psycopg.Connection[Any], schemas: list[str], min_rows: int) -> list[Finding]:
        found = []
        for row in conn.execute(_TABLES, [schemas]).fetchall():
            live, dead = int(row["n_live_tup"]), int(row["n_dead_tup"])
            seq, idx = int(row["seq_scan"]), int(row["idx_scan"])
            if live >= min_rows and seq >= MIN_SEQ_SCANS and seq > idx:
                found.append(
                    self._finding(
                        "pg.sequential_scans",
                        Severity.WARNING,
                        row["tbl"],
                        f"read by {seq} sequential scans against {idx} index scans, {live} rows",
                        "find the queries that scan it (pg_stat_statements, EXPLAIN) and index their filter columns",
                        {
                            "seq_scan": seq,
                            "idx_scan": idx,
                            "seq_tup_read": int(row["seq_tup_read"]),
                            "n_live_tup": live,
                        },
                    )
                )
            if live + dead >= min_rows and dead / (live + dead) >= DEAD_RATIO:
                vacuumed = max((t for t in (row["last_vacuum"], row["last_autovacuum"]) if t is not None), default=None)
                found.append(
                    self._finding(
                        "pg.table_bloat",
                        Severity.WARNING,
                        row["tbl"],
                        f"{dead / (live + dead):.0%} of its rows are dead (dead-row ratio, not a page estimate)",
                        "VACUUM it and check its autovacuum settings; VACUUM FULL or pg_repack returns the space",
                        {
                            "n_dead_tup": dead,
                            "n_live_tup": live,
                            "dead_ratio": round(dead / (live + dead), 4),
                            "last_vacuum": vacuumed.isoformat() if vacuumed else None,
                        },
                    )
                )
        return found

    def _unused(self, indexes: list[_Index]) -> list[Finding]:
        return [
            self._finding(
                "pg.unused_index",
                Severity.WARNING,
                i.row["idx"],
                f"never scanned since the statistics were reset, {i.row['bytes']} bytes, on {i.row['tbl']}",
                f"drop it (DROP INDEX CONCURRENTLY {i.row['idx']}) once replicas, which count their own "
                "scans, do not use it either",
                {"idx_scan": 0, "bytes": i.row["bytes"], "definition": i.row["definition"]},
            )
            for i in indexes
            if i.row["idx_scan"] == 0 and i.droppable and i.row["is_valid"]
        ]

    def _duplicates(self, indexes: list[_Index]) -> list[Finding]:
        found = []
        redundant: set[str] = set()
        for i, kept in enumerate(indexes):
            for other in indexes[i + 1 :]:
                if other.row["idx"] in redundant or not other.same_as(kept):
                    continue
                # keep the one a constraint needs, else the first by name
                keep, drop = (other, kept) if kept.droppable and not other.droppable else (kept, other)
                if not drop.droppable:
                    continue
                redundant.add(drop.row["idx"])
                found.append(
                    self._finding(
                        "pg.duplicate_index",
                        Severity.WARNING,
                        drop.row["idx"],
                        f"the same index as {keep.row['idx']} (columns, expressions, predicate, operator classes)",
                        f"drop it (DROP INDEX CONCURRENTLY {drop.row['idx']}): {keep.row['idx']} serves its queries",
                        {"same_as": keep.row["idx"], "bytes": drop.row["bytes"], "definition": drop.row["definition"]},
                    )
                )
        for short in indexes:
            if short.row["idx"] in redundant or not short.droppable:
                continue
            longer = next((o for o in indexes if short.prefix_of(o)), None)
            if longer is not None:
                found.append(
                    self._finding(
                        "pg.redundant_index",
                        Severity.INFO,
                        short.row["idx"],
                        f"its columns lead {longer.row['idx']}, which serves the same lookups",
                        f"drop it (DROP INDEX CONCURRENTLY {short.row['idx']}) unless its smaller size matters",
                        {"covered_by": longer.row["idx"], "bytes": short.row["bytes"]},
                    )
                )
        return found

    def _foreign_keys(self, conn: psycopg.Connection[Any], schemas: list[str], indexes: list[_Index]) -> list[Finding]:
        found = []
        tables: list[tuple[str, str]] = []
        for fk in conn.execute(_FOREIGN_KEYS, [schemas]).fetchall():
            keys = set(fk["keys"])
            if any(
                i.row["relid"] == fk["relid"] and i.row["pred"] is None and set(i.keys[: len(keys)]) == keys
                for i in indexes
            ):
                continue
            columns = tuple(fk["columns"])
            index = ProposedIndex(table=fk["tbl"], columns=columns, name=index_name(fk["relname"], columns))
            found.append(
                self._finding(
                    "pg.unindexed_foreign_key",
                    Severity.WARNING,
                    fk["tbl"],
                    f"foreign key {fk['conname']} ({', '.join(columns)}) to {fk['refs']} has no index leading with its columns",
                    f"create index {index.name}: deletes and key updates on {fk['refs']}, and joins, scan {fk['tbl']} without it",
                    {"constraint": fk["conname"], "references": fk["refs"], "columns": list(columns)},
                    index,
                )
            )
            tables.append((fk["nspname"], fk["relname"]))
        if found:
            found += self._estimate(conn, list(zip(found, tables, strict=True)))
        return found

    def _estimate(
        self, conn: psycopg.Connection[Any], proposals: list[tuple[Finding, tuple[str, str]]]
    ) -> list[Finding]:
        """Put each proposal's planner cost of a lookup by a typical key, without and with the
        index (hypopg), into its evidence; without hypopg, a finding saying how to get it."""
        schema = self._extension(conn, "hypopg")
        if schema is None:
            return [self._missing(conn, "hypopg", "estimate the gain of each proposed index")]
        create = sql.Identifier(schema, "hypopg_create_index")
        reset = sql.SQL("SELECT {}()").format(sql.Identifier(schema, "hypopg_reset"))
        for finding, (schema_name, table_name) in proposals:
            index = finding.index
            assert index is not None
            table = sql.SQL(index.table)  # format('%I.%I') output: already quoted
            columns = [sql.Identifier(c) for c in index.columns]
            typical = {
                r["attname"]: r["value"]
                for r in conn.execute(_TYPICAL, [schema_name, table_name, list(index.columns)]).fetchall()
                if r["value"] is not None
            }
            if len(typical) < len(index.columns):
                finding.evidence = {**finding.evidence, "estimate": "no planner statistics: ANALYZE the table"}
                continue
            lookup = sql.SQL("EXPLAIN (FORMAT JSON) SELECT * FROM {} WHERE {}").format(
                table,
                sql.SQL(" AND ").join(
                    sql.SQL("{} = {}").format(sql.Identifier(c), sql.Literal(typical[c])) for c in index.columns
                ),
            )
            definition = sql.SQL("CREATE INDEX ON {} ({})").format(table, sql.SQL(", ").join(columns)).as_string(conn)
            try:
                before = _cost(conn.execute(lookup).fetchone())
                try:
                    conn.execute(sql.SQL("SELECT * FROM {}(%s)").format(create), [definition])
                    after = _cost(conn.execute(lookup).fetchone())
                finally:
                    conn.execute(reset)
            except psycopg.Error as exc:
                if conn.broken:
                    raise
                # a typical value the column's type does not take back from text, say
                finding.evidence = {**finding.evidence, "estimate": f"failed: {exc.diag.message_primary}"}
                continue
            finding.evidence = {**finding.evidence, "cost_before": before, "cost_after": after}
        return []

    def _top_statements(self, conn: psycopg.Connection[Any]) -> list[Finding]:
        schema = self._extension(conn, "pg_stat_statements")
        if schema is None:
            return [self._missing(conn, "pg_stat_statements", "list the statements by total time")]
        view = sql.Identifier(schema, "pg_stat_statements")
        query = sql.SQL(
            "SELECT queryid, query, calls, total_exec_time, rows, "
            "sum(total_exec_time) OVER () AS everything FROM {} "
            "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND calls > 0 "
            "ORDER BY total_exec_time DESC LIMIT %s"
        ).format(view)
        try:
            rows = conn.execute(query, [TOP_STATEMENTS]).fetchall()
        except psycopg.errors.ObjectNotInPrerequisiteState:  # created but not preloaded
            return [self._missing(conn, "pg_stat_statements", "list the statements by total time")]
        return [
            self._finding(
                "pg.top_statement",
                Severity.INFO,
                f"queryid {row['queryid']}",
                f"{_share(row):.0%} of the statement time: {' '.join(row['query'].split())[:120]}",
                "EXPLAIN (ANALYZE, BUFFERS) it; index its filters or cut its calls",
                {
                    "calls": int(row["calls"]),
                    "total_ms": round(float(row["total_exec_time"]), 3),
                    "mean_ms": round(float(row["total_exec_time"]) / int(row["calls"]), 3),
                    "rows": int(row["rows"]),
                },
            )
            for row in rows
        ]

    # -- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _extension(conn: psycopg.Connection[Any], name: str) -> str | None:
        """The schema of extension ``name`` in this database, or None when it is not created."""
        row = conn.execute(_EXTENSION, [name]).fetchone()
        return None if row is None else str(row["nspname"])

    def _missing(self, conn: psycopg.Connection[Any], extension: str, purpose: str) -> Finding:
        """An INFO finding naming how to make ``extension`` usable."""
        available = conn.execute(_AVAILABLE, [extension]).fetchone() is not None
        evidence: dict[str, Any] = {"available": available, "created": self._extension(conn, extension) is not None}
        if not available:
            how = f"install it (Debian: postgresql-{conn.info.server_version // 10000}-{extension}), then "
        else:
            how = ""
        if extension == "pg_stat_statements":
            # pg_settings shows shared_preload_libraries to superusers and pg_read_all_settings only
            row = conn.execute(_PRELOADED).fetchone()
            evidence["preloaded"] = None if row is None else extension in row["setting"].replace(" ", "").split(",")
            if evidence["preloaded"] is not True:
                how += f"add {extension} to shared_preload_libraries and restart the server, then "
        how += f"CREATE EXTENSION {extension}" if not evidence["created"] else "reconnect"
        return self._finding(
            f"pg.{extension}_missing",
            Severity.INFO,
            extension,
            f"the {extension} extension is not usable here, so analyze cannot {purpose}",
            how,
            evidence,
        )

    def _finding(
        self,
        code: str,
        severity: Severity,
        subject: str,
        summary: str,
        action: str,
        evidence: dict[str, Any],
        index: ProposedIndex | None = None,
    ) -> Finding:
        return Finding(
            source=self.source.name,
            code=code,
            severity=severity,
            subject=subject,
            summary=summary,
            action=action,
            evidence=evidence,
            index=index,
        )


def _cost(row: dict[str, Any] | None) -> float:
    """The total cost of an ``EXPLAIN (FORMAT JSON)`` answer."""
    assert row is not None
    plan = row["QUERY PLAN"]
    return float(plan[0]["Plan"]["Total Cost"])


def _share(row: dict[str, Any]) -> float:
    everything = float(row["everything"] or 0)
    return float(row["total_exec_time"]) / everything if everything else 0.0
