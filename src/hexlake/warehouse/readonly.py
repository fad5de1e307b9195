"""The statement allowlist for user SQL (parsed with SQLGlot), the first of the sandbox's two walls.

A statement passes only if everything in it is on a list, never because nothing matched a denylist:

* one statement: SELECT / WITH … SELECT / set operations / DESCRIBE / SHOW TABLES / SUMMARIZE / EXPLAIN;
* every function is on ``ALLOWED_FUNCTIONS`` (aggregates, window, scalar math/string/date/JSON/list,
  and the table functions ``range``/``generate_series``/``unnest``) — so no ``read_*``, ``glob``,
  ``enable_profiling``, ``current_setting``, ``duckdb_settings``, ``sqlite_attach``, ``st_read``...;
* every table is a plain name (at most ``schema.table``): ``parse_query`` returns them so the caller
  checks them against what the key may read; the sandbox runs the statement *re-generated from the
  parse*, so a string literal written as a table (``FROM 'file.csv'``) reaches DuckDB as a quoted
  identifier, never a file path; ``SUMMARIZE '…'`` is refused outright.

The second wall is the DuckDB connection itself (``hexlake.warehouse.sandbox``): external access
off, no extension autoload, configuration locked.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

import sqlglot
from sqlglot import exp

from hexlake.errors import BadRequest

READ_ONLY_MESSAGE = "only read-only queries are allowed"
MAX_SQL_CHARS = 100_000
MAX_NESTING = 32
CACHE_MAX_CHARS = 4096  # longer statements are parsed every time (keeps the cache small)

_ALLOWED_NAMES = """
count count_star sum avg mean min max median mode quantile quantile_cont quantile_disc
approx_count_distinct approx_quantile stddev stddev_pop stddev_samp variance var_pop var_samp corr
covar_pop covar_samp string_agg group_concat list array_agg arg_min arg_max argmin argmax min_by max_by
first last any_value bool_and bool_or count_if countif product histogram entropy kurtosis skewness
bit_and bit_or regr_slope regr_intercept regr_r2 fsum favg
row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value
abs round floor ceil ceiling sqrt cbrt pow power exp ln log log10 log2 sign greatest least mod trunc pi
sin cos tan asin acos atan atan2 radians degrees isnan isinf isfinite even factorial gcd lcm random
bit_count xor
lower upper lcase ucase length len strlen char_length character_length octet_length substr substring
concat concat_ws trim ltrim rtrim replace split_part starts_with ends_with prefix suffix contains
strpos position instr left right lpad rpad reverse repeat regexp_matches regexp_replace regexp_extract
regexp_extract_all regexp_split_to_array regexp_full_match md5 sha1 sha256 hash format printf
string_split str_split string_split_regex ascii chr initcap levenshtein damerau_levenshtein jaccard
jaro_similarity jaro_winkler_similarity hamming mismatches base64 to_base64 from_base64 hex unhex
to_hex url_encode url_decode bar
coalesce nullif ifnull if iff nvl typeof cast try_cast
date_trunc datetrunc date_part datepart extract now current_date current_timestamp get_current_timestamp
today epoch epoch_ms epoch_us epoch_ns to_timestamp strftime strptime try_strptime date_diff datediff
date_sub datesub date_add age make_date make_time make_timestamp make_timestamptz dayofweek dayofmonth
dayofyear isodow isoyear weekday weekofyear hour minute second millisecond microsecond year month day
week quarter yearweek decade century millennium era last_day monthname dayname time_bucket to_days
to_hours to_minutes to_seconds to_milliseconds to_microseconds to_weeks to_months to_years to_date
timezone current_time
json_extract json_extract_string json_extract_path json_extract_path_text json_value json_keys
json_array_length json_type json_valid json_object json_array to_json json json_contains json_exists
json_group_array json_group_object
list_value list_pack array_value unnest array_length list_contains list_has array_contains list_sort
array_sort list_distinct array_distinct list_unique list_aggregate list_extract list_element
array_extract list_slice array_slice list_concat array_concat list_cat flatten list_reverse
list_transform array_transform list_filter array_filter list_reduce list_position list_indexof
array_position list_zip list_sum list_min list_max list_avg list_count list_has_any list_has_all
cardinality struct_pack struct_extract row map map_keys map_values map_extract element_at
string_to_array array_to_string
range generate_series
"""
#: The DuckDB functions user SQL may call (scalar, aggregate, window and three table functions).
ALLOWED_FUNCTIONS = frozenset(_ALLOWED_NAMES.split())

# SQL syntax SQLGlot models as functions (AND, OR, CASE, EXISTS, ANY, ALL).
_SYNTAX = frozenset({"and", "or", "xor", "case", "exists", "any", "all"})
_TOP_LEVEL = (exp.Select, exp.SetOperation, exp.Subquery, exp.Values, exp.Describe, exp.Show, exp.Summarize)
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter,
           exp.Command, exp.Set, exp.Copy, exp.TruncateTable, exp.Attach, exp.Detach, exp.Use,
           exp.Pragma, exp.Into)
_EXPLAIN = re.compile(r"^\s*EXPLAIN(\s+ANALY[SZ]E)?\b", re.IGNORECASE)
_SHOW_TABLES = ("TABLES", "ALL TABLES")
_READ_WORDS = frozenset({"SELECT", "WITH", "FROM", "DESCRIBE", "SHOW", "SUMMARIZE", "EXPLAIN", "(", "VALUES",
                         "TABLE"})
_ALLOWED_KINDS = "only SELECT, WITH, DESCRIBE, SHOW TABLES, SUMMARIZE, EXPLAIN"
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


class QueryRefused(BadRequest):
    """The statement is not on the sandbox's allowlist (400, ``field="sql"``, the reason in the message)."""


@dataclass(frozen=True)
class TableRef:
    """A table a statement reads: ``schema`` is ``""`` when unqualified."""

    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(frozen=True)
class ParsedQuery:
    """One checked statement: what it is, what it reads and the SQL to run (re-generated)."""

    kind: str  # select | describe | summarize | show_tables | explain
    sql: str
    tables: tuple[TableRef, ...] = ()
    columns: frozenset[str] = frozenset()
    #: the statement reads columns it does not name: ``*``, ``#1``, or an alias renaming a table's columns
    has_star: bool = False
    #: names a whole row could be referenced by (table names and their aliases)
    row_names: frozenset[str] = frozenset()


def parse_query(sql: str, dialect: str = "duckdb") -> ParsedQuery:
    """Parse and check one user statement, or raise ``QueryRefused`` naming the reason.

    Results are cached by text (apps send the same queries again and again); refusals are not.
    """
    if len(sql) > CACHE_MAX_CHARS:
        return _parse(sql, dialect)
    return _parse_cached(sql, dialect)


@functools.lru_cache(maxsize=1024)
def _parse_cached(sql: str, dialect: str) -> ParsedQuery:
    return _parse(sql, dialect)


def _parse(sql: str, dialect: str) -> ParsedQuery:
    _check_size(sql)
    explain = _EXPLAIN.match(sql)
    if explain:  # SQLGlot has no EXPLAIN node: check the explained statement instead
        inner = _parse(sql[explain.end():], dialect)
        if inner.kind == "show_tables":
            _refuse("EXPLAIN SHOW TABLES is not allowed")
        return replace(inner, sql=f"{explain.group(0).strip().upper()} {inner.sql}", kind="explain")
    stmt = _parse_one(sql, dialect)
    try:
        return _checked(stmt, dialect, sql)
    except RecursionError as exc:
        raise QueryRefused(f"the query nests more than {MAX_NESTING} levels deep", field="sql") from exc


def check_read_only(sql: str, dialect: str = "duckdb") -> None:
    """Raise ``QueryRefused`` (a ``BadRequest``) unless ``sql`` is exactly one allowed read statement.

    Without a key's table list (the sandbox checks that), table names must at least be plain names.
    """
    for table in parse_query(sql, dialect).tables:
        if not _TABLE_NAME.match(table.name):
            _refuse(f"table {table.name!r}: string literals cannot be used as tables (files cannot be read)")


def _check_size(sql: str) -> None:
    if len(sql) > MAX_SQL_CHARS:
        _refuse(f"the query is {len(sql)} characters long; the limit is {MAX_SQL_CHARS}")
    depth = deepest = 0
    for ch in sql:  # SQLGlot recurses per level: refuse before it can hit the recursion limit
        if ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
    if deepest > MAX_NESTING:
        _refuse(f"the query nests {deepest} parentheses deep; the limit is {MAX_NESTING}")


def _parse_one(sql: str, dialect: str) -> exp.Expr:
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except sqlglot.errors.ParseError as exc:
        first = _first_word(sql)
        if first not in _READ_WORDS:  # a statement SQLGlot does not know (EXPORT, VACUUM...): name it
            _refuse(f"{first or 'an empty statement'} is not allowed ({_ALLOWED_KINDS})")
        detail = exc.errors[0].get("description", str(exc)) if exc.errors else str(exc)
        raise QueryRefused(f"could not parse the query: {detail}", field="sql") from exc
    except sqlglot.errors.SqlglotError as exc:
        raise QueryRefused(f"could not parse the query: {exc}", field="sql") from exc
    except RecursionError as exc:
        raise QueryRefused("the query nests too deeply to parse", field="sql") from exc
    if len(statements) != 1:
        _refuse(f"send exactly one statement (got {len(statements)})")
    return statements[0]


def _checked(stmt: exp.Expr, dialect: str, sql: str) -> ParsedQuery:
    if isinstance(stmt, exp.Show):
        if str(stmt.name).upper() not in _SHOW_TABLES:
            _refuse(f"SHOW {stmt.name} is not allowed ({_ALLOWED_KINDS})")
        return ParsedQuery(kind="show_tables", sql="SHOW TABLES")
    if not isinstance(stmt, _TOP_LEVEL):
        name = _statement_name(stmt) if isinstance(stmt, _WRITES) else _first_word(sql)
        _refuse(f"{name} is not allowed ({_ALLOWED_KINDS})")
    kind = type(stmt).__name__.lower() if isinstance(stmt, exp.Describe | exp.Summarize) else "select"
    tables: list[TableRef] = []
    columns: set[str] = set()
    has_star = _walk(stmt, tables, columns, allowed_function_keys(dialect))
    row_names = {t.name.lower() for t in tables} | {t.alias.lower() for t in stmt.find_all(exp.Table) if t.alias}
    return ParsedQuery(kind=kind, sql=stmt.sql(dialect=dialect), tables=tuple(tables),
                       columns=frozenset(columns), has_star=has_star, row_names=frozenset(row_names))


def _walk(stmt: exp.Expr, tables: list[TableRef], columns: set[str], functions: frozenset[str]) -> bool:
    """Check every node; collect the tables and column names; whether a ``*`` occurs."""
    has_star = False
    ctes = {cte.alias_or_name.lower() for cte in stmt.find_all(exp.CTE)}
    for node in stmt.walk():
        if node is not stmt and isinstance(node, exp.Show):
            _refuse("SHOW inside another statement is not allowed")
        if isinstance(node, exp.Summarize) and isinstance(node.this, exp.Literal):
            _refuse(f"SUMMARIZE of a string ({node.this.name!r}): string literals cannot be used as tables")
        if isinstance(node, _WRITES):
            _refuse(f"{_statement_name(node)} is not allowed")
        elif isinstance(node, exp.Func):
            _check_function(node, functions)
        elif isinstance(node, exp.Table):
            _add_table(node, tables, ctes)
        elif isinstance(node, exp.Star | exp.PositionalColumn) or _renames_columns(node):
            has_star = True
        elif isinstance(node, exp.Column) and node.name:
            columns.add(node.name.lower())
    return has_star


def _renames_columns(node: exp.Expr) -> bool:
    return isinstance(node, exp.TableAlias) and bool(node.columns)


def _check_function(node: exp.Func, functions: frozenset[str]) -> None:
    key = function_key(node)
    if key not in functions:
        _refuse(f"function {key}() is not on the allowlist")


def _add_table(node: exp.Table, tables: list[TableRef], ctes: set[str]) -> None:
    this = node.this
    if isinstance(this, exp.Func):
        return  # a table function: checked against the function allowlist by the walk
    if not isinstance(this, exp.Identifier):
        _refuse(f"{node.sql()} cannot be used as a table")
    if node.catalog:
        _refuse(f"table {node.sql()}: other databases cannot be read")
    ref = TableRef(schema=node.db.lower(), name=this.name)
    if ref.schema or ref.name.lower() not in ctes:
        tables.append(ref)


def function_key(node: exp.Func) -> str:
    """The name SQLGlot knows a function call by (its class, or the name of an unknown function)."""
    return node.name.lower() if isinstance(node, exp.Anonymous) else node.sql_name().lower()


@functools.cache
def allowed_function_keys(dialect: str = "duckdb") -> frozenset[str]:
    """``ALLOWED_FUNCTIONS`` as SQLGlot parses them in ``dialect`` (``date_trunc`` → ``timestamp_trunc``...)."""
    keys: set[str] = set(_SYNTAX)
    for name in ALLOWED_FUNCTIONS:
        keys.add(name)
        for sql in (f"SELECT {name}", *(f"SELECT {name}({', '.join('abc'[:n])})" for n in range(4))):
            try:
                parsed = sqlglot.parse_one(sql, read=dialect)
            except (sqlglot.errors.SqlglotError, IndexError):  # IndexError: sqlmesh's IF parser (`SELECT if`)
                continue
            keys.update(function_key(f) for f in parsed.find_all(exp.Func) if not isinstance(f, exp.Anonymous))
    return frozenset(keys)


def _first_word(sql: str) -> str:
    word = re.search(r"[A-Za-z_]+|\S", sql)
    return word.group(0).upper() if word else ""


def _statement_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return type(node).__name__.upper()


def _refuse(reason: str) -> None:
    raise QueryRefused(f"query refused: {reason} ({READ_ONLY_MESSAGE}; see docs/security.md)", field="sql")


__all__ = [
    "ALLOWED_FUNCTIONS",
    "MAX_NESTING",
    "MAX_SQL_CHARS",
    "READ_ONLY_MESSAGE",
    "ParsedQuery",
    "QueryRefused",
    "TableRef",
    "allowed_function_keys",
    "check_read_only",
    "function_key",
    "parse_query",
]
