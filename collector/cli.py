"""The ``microx`` command: ``serve``, ``sql``, ``migrate``, ``keygen`` and ``cluster-schema``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from collector import logs
from collector.cluster import DEFAULT_CLUSTER, ClusterSchemaError, render
from collector.settings import Settings, SettingsError
from collector.sites import new_secret
from collector.store import Store, StoreUnavailable, describe_url, load_migrations


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from collector.app import create_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    base = f"http://{settings.host}:{settings.port}"
    print(
        f"microx collector on {base}\n"
        f"  demo shop:  {base}/\n"
        f"  snippet:    {base}/sdk.js\n"
        f"  ingest:     POST {base}/v1/events\n"
        f"  store:      {describe_url(settings.clickhouse_url)}\n"
        '  query it after stopping (Ctrl-C): microx sql "SELECT type, count() FROM '
        'microx.events GROUP BY type"',
        flush=True,
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        access_log=False,  # an access log would hold client addresses
        log_config=None,  # keep the handlers logs.configure installed
        server_header=False,
    )
    return 0


def _format(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> str:
    if fmt == "tsv":
        return "\n".join("\t".join(map(str, r)) for r in [tuple(columns), *rows])
    cells = [columns, *[[str(v) for v in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _sql(settings: Settings, args: argparse.Namespace) -> int:
    store = Store(settings.clickhouse_url)
    try:
        store.migrate()
        columns, rows = store.query(args.query)
    finally:
        store.close()
    print(_format(columns, rows, args.format))
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    store = Store(settings.clickhouse_url)
    try:
        applied = store.migrate()
    finally:
        store.close()
    for m in applied:
        print(f"applied {m.version:04d}_{m.name}")
    print(f"schema up to date at {describe_url(settings.clickhouse_url)}")
    return 0


def _keygen(settings: Settings, args: argparse.Namespace) -> int:
    print(new_secret())
    return 0


def _cluster_schema(settings: Settings, args: argparse.Namespace) -> int:
    print(render(load_migrations(), args.cluster, dict(args.shard_key), args.since), end="")
    return 0


def _shard_key(value: str) -> tuple[str, str]:
    table, _, expression = value.partition("=")
    if not table.strip() or not expression.strip():
        raise argparse.ArgumentTypeError(f"expected TABLE=EXPRESSION, got {value!r}")
    return table.strip(), expression.strip()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="microx", description="microx: measure the micro-experiences of a customer journey."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the collector (configured by MICROX_* variables)")
    sql = commands.add_parser("sql", help="run one query against the configured store")
    sql.add_argument("query")
    sql.add_argument("--format", choices=["table", "tsv"], default="table")
    commands.add_parser("migrate", help="apply pending schema migrations and exit")
    commands.add_parser("keygen", help="print a new secret server key for MICROX_SERVER_KEYS")
    cluster = commands.add_parser(
        "cluster-schema",
        help="print the schema for a ClickHouse cluster (replicated, sharded), to run once",
    )
    cluster.add_argument(
        "--cluster", default=DEFAULT_CLUSTER, help="cluster name in remote_servers"
    )
    cluster.add_argument(
        "--shard-key",
        type=_shard_key,
        action="append",
        default=[],
        metavar="TABLE=EXPRESSION",
        help="sharding key of one table (default: cityHash64(session_id) if it has that "
        "column, else rand()); repeat for more tables",
    )
    cluster.add_argument(
        "--from",
        dest="since",
        type=int,
        default=0,
        metavar="VERSION",
        help="print only migrations from this version on (to upgrade a cluster)",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        logs.configure(settings.log_level, settings.log_format)
        handler = {
            "serve": _serve,
            "sql": _sql,
            "migrate": _migrate,
            "keygen": _keygen,
            "cluster-schema": _cluster_schema,
        }[args.command]
        return handler(settings, args)
    except (SettingsError, StoreUnavailable, ClusterSchemaError) as exc:
        print(f"microx: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if args.command != "sql":
            raise
        # A bad query is the user's to fix: show ClickHouse's message, not a traceback.
        print(f"microx: query failed: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
