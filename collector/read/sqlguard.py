"""What an analyst's SQL may do, decided on ClickHouse's own parse of it.

``readonly=1`` stops writes and setting changes, but not a scalar function that reads a file
(``file('/proc/self/environ')``), a table function that fetches a URL, ``INTO OUTFILE``, or
the schema inference of ``DESCRIBE url(...)``. So every query is parsed by the engine
(``parseQueryToJSON``, the query bound as a parameter, never spliced into SQL) and walked:
only reading statements, only tables of ``microx`` and a few catalogue tables of ``system``,
only functions that compute on values, no table functions, no ``INTO OUTFILE``, no
``SETTINGS``, a known output format. Anything the walk does not recognise is refused: an
allowlist, so a function added to a later engine is refused until it is listed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

DATABASE = "microx"
ACCESS_DENIED = 497
READONLY = 164
# Catalogue tables a client or an analyst reads to find their way; nothing here holds other
# people's queries (processes, query_log), server internals or files.
SYSTEM_TABLES = frozenset(
    {
        "one",
        "numbers",
        "tables",
        "columns",
        "databases",
        "functions",
        "aggregate_function_combinators",
        "table_functions",
        "data_type_families",
        "formats",
        "time_zones",
        "parts",
        "settings",  # clients read it on connecting
        "table_engines",
        "build_options",
        "dictionaries",
    }
)
_INFORMATION_SCHEMA = (
    "tables",
    "columns",
    "schemata",
    "views",
    "key_column_usage",
    "referential_constraints",
    "statistics",
)
INFORMATION_SCHEMA_TABLES = frozenset(
    _INFORMATION_SCHEMA + tuple(t.upper() for t in _INFORMATION_SCHEMA)
)
_DATABASES = {
    DATABASE: None,  # every table
    "system": SYSTEM_TABLES,
    "information_schema": INFORMATION_SCHEMA_TABLES,
    "INFORMATION_SCHEMA": INFORMATION_SCHEMA_TABLES,
}
# Databases other than the allowed ones whose names can open an identifier.
_OTHER_DATABASES = frozenset({"default", "_local", "_temporary_and_external_tables"})

# Function families that only compute on their arguments.
SAFE_CATEGORIES = frozenset(
    {
        "Arithmetic",
        "Arrays",
        "Bit",
        "Bitmap",
        "Comparison",
        "Conditional",
        "Dates and Times",
        "Distance",
        "Encoding",
        "Encryption",
        "Financial",
        "Geo",
        "Geo Polygon",
        "Hash",
        "IP Address",
        "JSON",
        "Logical",
        "Map",
        "Mathematical",
        "Null",
        "NumericIndexedVector",
        "QBit",
        "Random Number",
        "Rounding",
        "String",
        "String Replacement",
        "String Search",
        "String Splitting",
        "Time Window",
        "Tuple",
        "Type Conversion",
        "URL",
        "UUID",
    }
)
# From the engine's "Other" and "Internal" families, the ones that compute on values; the
# rest read settings, files, the host, the network or other servers, or sleep.
SAFE_OTHER = frozenset(
    {
        "bar",
        "blockNumber",
        "blockSize",
        "byteSize",
        "caseWithExpression",
        "colorOKLABToSRGB",
        "colorOKLCHToSRGB",
        "colorSRGBToOKLAB",
        "colorSRGBToOKLCH",
        "countDigits",
        "currentDatabase",
        "currentUser",
        "getSetting",  # the session's settings, as system.settings shows them
        "getSettingOrDefault",
        "throwIf",
        "defaultValueOfArgumentType",
        "defaultValueOfTypeName",
        "digits",
        "errorCodeToName",
        "finalizeAggregation",
        "flipCoordinates",
        "formatReadableDecimalSize",
        "formatReadableQuantity",
        "formatReadableSize",
        "formatReadableTimeDelta",
        "getSizeOfEnumType",
        "getSubcolumn",
        "identity",
        "ignore",
        "indexHint",
        "initializeAggregation",
        "isConstant",
        "isDecimalOverflow",
        "lowCardinalityIndices",
        "lowCardinalityKeys",
        "MACNumToString",
        "MACStringToNum",
        "MACStringToOUI",
        "materialize",
        "minSampleSizeContinuous",
        "minSampleSizeConversion",
        "parseISO8601Duration",
        "parseReadableSize",
        "parseReadableSizeOrNull",
        "parseReadableSizeOrZero",
        "parseTimeDelta",
        "rowNumberInAllBlocks",
        "rowNumberInBlock",
        "runningConcurrency",
        "runningDifference",
        "runningDifferenceStartingWithFirstValue",
        "toColumnTypeName",
        "toTypeName",
        "transform",
        "variantElement",
        "variantType",
        "version",
        "visibleWidth",
    }
)
# Names the parser produces for syntax (``x -> y``, ``EXISTS (...)``, ``GROUPING``) that the
# engine does not list as functions.
SYNTAX_FUNCTIONS = frozenset({"lambda", "exists", "grouping"})
# Listed in a safe family but reaching outside the query all the same.
DENIED_FUNCTIONS = frozenset(
    {
        "file",
        "url",
        "sleep",
        "sleepEachRow",
        # Quadratic in the strings' length: seconds a row, and the engine checks its time
        # limit only between blocks, so a slot could be held for hours.
        "editDistance",
        "editDistanceUTF8",
        "levenshteinDistance",
        "levenshteinDistanceUTF8",
        "damerauLevenshteinDistance",
        "jaroSimilarity",
        "jaroWinklerSimilarity",
        "arrayLevenshteinDistance",
        "arrayLevenshteinDistanceWeighted",
        "arraySimilarity",
        "multiFuzzyMatchAny",
        "multiFuzzyMatchAnyIndex",
        "multiFuzzyMatchAllIndices",
        # Strings of any length from one argument: a single value as large as the memory
        # limit, held again by the collector when it is the answer.
        "randomString",
        "randomStringUTF8",
        "randomPrintableASCII",
        "randomFixedString",
        "repeat",
        "space",
    }
)

OUTPUT_FORMATS = frozenset(
    {
        "TabSeparated",
        "TabSeparatedRaw",
        "TabSeparatedWithNames",
        "TabSeparatedWithNamesAndTypes",
        "TabSeparatedRawWithNames",
        "TabSeparatedRawWithNamesAndTypes",
        "TSV",
        "TSVRaw",
        "TSVWithNames",
        "TSVWithNamesAndTypes",
        "CSV",
        "CSVWithNames",
        "CSVWithNamesAndTypes",
        "JSON",
        "JSONStrings",
        "JSONCompact",
        "JSONCompactStrings",
        "JSONEachRow",
        "JSONStringsEachRow",
        "JSONCompactEachRow",
        "JSONCompactEachRowWithNames",
        "JSONCompactEachRowWithNamesAndTypes",
        "JSONCompactStringsEachRow",
        "JSONCompactStringsEachRowWithNames",
        "JSONCompactStringsEachRowWithNamesAndTypes",
        "JSONEachRowWithProgress",
        "JSONStringsEachRowWithProgress",
        "JSONColumns",
        "JSONColumnsWithMetadata",
        "JSONCompactColumns",
        "JSONLines",
        "NDJSON",
        "JSONObjectEachRow",
        "Native",
        "RowBinary",
        "RowBinaryWithNames",
        "RowBinaryWithNamesAndTypes",
        "Pretty",
        "PrettyCompact",
        "PrettyCompactMonoBlock",
        "PrettyCompactNoEscapes",
        "PrettyMonoBlock",
        "PrettyNoEscapes",
        "PrettyNoEscapesMonoBlock",
        "PrettySpace",
        "PrettySpaceNoEscapes",
        "LineAsString",
        "RawBLOB",
        "TSKV",
        "Vertical",
        "Values",
        "Markdown",
        "XML",
        "Parquet",
        "Arrow",
        "ArrowStream",
        "ORC",
        "Null",
    }
)

# Statements the JSON form of the AST does not cover, checked on the engine's own canonical
# text instead: nothing but a plain table name may follow.
_NAME = r"(?:`[^`\\]+`|[A-Za-z_][A-Za-z0-9_]*)"
_PLAIN_STATEMENT = re.compile(
    rf"^(?P<kind>DESCRIBE TABLE|SHOW CREATE TABLE|SHOW CREATE VIEW|EXISTS TABLE) "
    rf"(?:(?P<db>{_NAME})\.)?(?P<table>{_NAME})(?: FORMAT (?P<format>[A-Za-z0-9_]+))?$"
)
_UNSERIALIZABLE = re.compile(r"AST node of type '([A-Za-z]+)")
_ROOTS = frozenset({"SelectWithUnionQuery", "SelectIntersectExceptQuery", "SelectQuery"})
_EXPLAIN_KINDS = frozenset(
    {
        "EXPLAIN",
        "EXPLAIN AST",
        "EXPLAIN SYNTAX",
        "EXPLAIN QUERY TREE",
        "EXPLAIN PLAN",
        "EXPLAIN PIPELINE",
        "EXPLAIN ESTIMATE",
    }
)


class QueryRefused(Exception):
    """The query does something an analyst's query may not; the message says what.
    ``code`` is ClickHouse's: READONLY for a statement that would change something,
    ACCESS_DENIED for the rest."""

    def __init__(self, message: str, code: int = ACCESS_DENIED) -> None:
        super().__init__(message)
        self.code = code


@dataclasses.dataclass(frozen=True)
class Checked:
    """A query that may run, and the output format it names itself, if any."""

    sql: str
    format: str | None
    # The {name:Type} placeholders of the parsed query, name -> type: the only parameters
    # passed on, each read as its type's text form.
    parameters: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class FunctionCatalogue:
    """The functions an analyst may call, read from the engine's own ``system.functions``."""

    exact: frozenset[str]
    case_insensitive: frozenset[str]  # lower-cased
    aggregates: frozenset[str]
    aggregates_ci: frozenset[str]  # lower-cased
    combinators: tuple[str, ...]

    @classmethod
    def from_rows(
        cls, functions: list[tuple[Any, ...]], combinators: list[str]
    ) -> FunctionCatalogue:
        """``functions``: (name, categories, alias_to, is_aggregate, case_insensitive)."""
        by_name = {str(r[0]): r for r in functions}

        def allowed(name: str, depth: int = 0) -> bool:
            row = by_name.get(name)
            if row is None or name in DENIED_FUNCTIONS or depth > 4:
                return False
            _, categories, alias_to, is_aggregate, _ = row
            if alias_to:
                return allowed(str(alias_to), depth + 1)
            if is_aggregate:
                return True
            if name in SAFE_OTHER:
                return True
            return bool(categories) and set(str(categories).split(", ")) <= SAFE_CATEGORIES

        def aggregate(name: str) -> bool:
            row = by_name[name]
            target = by_name.get(str(row[2])) if row[2] else None
            return bool(row[3] or (target is not None and target[3]))

        ok = {name for name in by_name if allowed(name)}
        aggregates = {name for name in ok if aggregate(name)}
        return cls(
            exact=frozenset(ok | SYNTAX_FUNCTIONS),
            case_insensitive=frozenset(n.lower() for n in ok if by_name[n][4]),
            aggregates=frozenset(aggregates),
            aggregates_ci=frozenset(n.lower() for n in aggregates if by_name[n][4]),
            # Longest first, so "MergeState" is not read as "State" after "Merge".
            combinators=tuple(sorted(combinators, key=len, reverse=True)),
        )

    def allows(self, name: str) -> bool:
        if name in self.exact or name.lower() in self.case_insensitive:
            return True
        return self._is_combined_aggregate(name, 0)

    def _is_combined_aggregate(self, name: str, depth: int) -> bool:
        if depth > 4:
            return False
        for suffix in self.combinators:
            if name.endswith(suffix) and len(name) > len(suffix):
                base = name[: -len(suffix)]
                if base in self.aggregates or base.lower() in self.aggregates_ci:
                    return True
                if self._is_combined_aggregate(base, depth + 1):
                    return True
        return False


Parse = Callable[[str, str], str]


class SqlGuard:
    """Checks one query at a time with the engine's parser (``parse(function, sql)`` runs
    ``SELECT <function>({sql:String})`` and returns the result)."""

    def __init__(self, catalogue: FunctionCatalogue) -> None:
        self._functions = catalogue

    def check(self, sql: str, parse: Parse) -> Checked:
        try:
            tree = orjson.loads(parse("parseQueryToJSON", sql))
        except QueryRefused:
            raise
        except Exception as exc:  # the engine's parse error, or a statement it cannot show
            text = str(exc)
            if "Code: 36." not in text:
                raise  # a syntax error: the engine's own message says where
            kind = _UNSERIALIZABLE.search(text)
            return self._check_plain(sql, kind[1] if kind else "", parse)
        if not isinstance(tree, dict):
            raise QueryRefused("the query could not be read")
        declared = {
            str(n["name"]): str(n.get("param_type", ""))
            for n in _nodes(tree)
            if n.get("type") == "QueryParameter" and n.get("name")
        }
        return Checked(sql, self._check_statement(tree), declared)

    def _check_plain(self, sql: str, kind: str, parse: Parse) -> Checked:
        canonical = parse("formatQuerySingleLine", sql)
        match = _PLAIN_STATEMENT.match(canonical)
        if match is None:
            if kind == "DescribeQuery":
                raise QueryRefused("DESCRIBE is accepted for a table of microx or system only")
            statement = _statement_name(kind) if kind else canonical.split(" ", 1)[0].upper()
            raise QueryRefused(f"{statement} is not accepted here: read-only", READONLY)
        db = match["db"].strip("`") if match["db"] else None
        self._check_table(db, match["table"].strip("`"))
        fmt = match["format"]
        if fmt is not None:
            self.check_format(fmt)
        # What runs is the text that was checked.
        return Checked(canonical, fmt)

    def _check_statement(self, tree: dict[str, Any]) -> str | None:
        kind = tree.get("type")
        if kind == "ExplainQuery":
            if tree.get("kind") not in _EXPLAIN_KINDS:
                raise QueryRefused(f"{tree.get('kind')} is not accepted here")
            inner = tree.get("query")
            if not isinstance(inner, dict) or inner.get("type") not in _ROOTS:
                raise QueryRefused("EXPLAIN is accepted for SELECT queries only")
            self._walk(inner)
        elif kind == "ShowTablesQuery":
            self._check_show(tree)
            self._walk(tree)  # its WHERE and LIMIT are expressions the engine evaluates
        elif kind == "ShowColumnsQuery":
            self._check_table(tree.get("database") or None, str(tree.get("table", "")))
            self._walk(tree)
        elif kind in _ROOTS:
            self._walk(tree)
        else:
            raise QueryRefused(
                f"{_statement_name(str(kind))} is not accepted here: read-only", READONLY
            )
        self._check_outfile(tree)
        fmt = tree.get("format_ast")
        if isinstance(fmt, dict):
            name = str(fmt.get("name", ""))
            self.check_format(name)
            return name
        return None

    def _check_show(self, tree: dict[str, Any]) -> None:
        flags = {k for k, v in tree.items() if v is True and not k.startswith("is_")}
        if flags - {"databases", "full", "temporary"}:
            raise QueryRefused(f"SHOW {', '.join(sorted(flags)).upper()} is not accepted here")
        source = tree.get("from")
        db = source.get("name") if isinstance(source, dict) else None
        if db is not None and db not in _DATABASES:
            raise QueryRefused(f"database {db!r} is not readable here")

    def _check_outfile(self, node: dict[str, Any]) -> None:
        if node.get("out_file") is not None or node.get("is_into_outfile_with_stdout"):
            raise QueryRefused("INTO OUTFILE is refused: results come back in the answer")

    def check_format(self, name: str) -> None:
        if name not in OUTPUT_FORMATS:
            raise QueryRefused(f"output format {name!r} is not accepted here")

    def _check_table(self, db: str | None, table: str) -> None:
        if db is None:
            return  # the connection's database is microx; a CTE's name is checked with it
        if db not in _DATABASES:
            raise QueryRefused(f"database {db!r} is not readable here")
        allowed = _DATABASES[db]
        if allowed is not None and table not in allowed:
            raise QueryRefused(
                f"table {db}.{table} is not readable here (of {db}: {', '.join(sorted(allowed))})"
            )

    def _walk(self, root: dict[str, Any]) -> None:
        views: set[int] = set()  # parameterized views' calls: not functions
        for node in _nodes(root):
            kind = node.get("type")
            if node is not root and kind in _ROOTS:
                self._check_outfile(node)
            if kind == "TableExpression":
                function = node.get("table_function")
                if function is not None:
                    name = str(function.get("name") if isinstance(function, dict) else "?")
                    # A parameterized view of microx is called like a table function.
                    if not name.startswith(f"{DATABASE}."):
                        raise QueryRefused(
                            f"view {name}() is not readable here"
                            if "." in name
                            else f"table function {name}() is refused"
                        )
                    views.add(id(function))
            elif kind == "TableIdentifier":
                parts = node.get("name_parts")
                if any(
                    isinstance(c, dict) and c.get("type") == "QueryParameter"
                    for c in node.get("children", ())
                ):
                    raise QueryRefused("a table named by a query parameter is refused")
                if isinstance(parts, list) and len(parts) >= 2:
                    self._check_table(str(parts[0]), str(parts[1]))
                elif not node.get("name"):
                    raise QueryRefused("a table without a name is refused")
            elif kind == "Identifier":
                parts = node.get("name_parts")
                # ``x IN system.query_log`` reads a table through a plain identifier.
                if isinstance(parts, list) and len(parts) >= 2:
                    head = str(parts[0])
                    if head in _OTHER_DATABASES or (head in _DATABASES and head != DATABASE):
                        self._check_table(head, str(parts[1]))
            if "func_name" in node:  # SELECT * APPLY(f): a function named, not called
                name = str(node["func_name"])
                if not self._functions.allows(name):
                    raise QueryRefused(f"function {name}() is refused")
            if kind == "Function" and id(node) not in views:
                name = str(node.get("name", ""))
                if not self._functions.allows(name):
                    raise QueryRefused(f"function {name}() is refused")
            elif kind == "QueryParameter":
                if str(node.get("param_type", "")).strip() == "Identifier":
                    raise QueryRefused("Identifier query parameters are refused")
            elif kind == "SetQuery":
                raise QueryRefused("SETTINGS are refused: the connection's limits hold")


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    """Every object of the tree, depth first, without recursion (trees can be deep)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _statement_name(kind: str) -> str:
    words = re.sub(r"Query$", "", kind)
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", words).upper() or "this statement"
