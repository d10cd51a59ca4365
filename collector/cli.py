"""The ``microx`` command: ``serve``, ``sql``, ``report``, ``migrate``, ``keygen``,
``cluster-schema``, and ``export`` and ``forget`` for a visitor's data."""

from __future__ import annotations

import argparse
import logging
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from collector.ops import logs
from collector.ops.secrets import new_secret
from collector.read.analysis import analyse, parse_window, summary
from collector.read.query import load_token
from collector.read.report import render_html
from collector.read.through import SqlReader, ThroughCollector
from collector.rights.visitors import Visitor, log_request, summary_of, visitor_id
from collector.settings import Settings, SettingsError
from collector.sink.migrations import load_migrations
from collector.sink.store import Store, StoreUnavailable, describe_url
from collector.sink.tombstones import Tombstones, TombstonesDamaged, TombstonesFull
from collector.spool.log import saved_checkpoint, spool_end
from collector.tools.cluster import DEFAULT_CLUSTER, ClusterSchemaError, render

log = logging.getLogger("microx")


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from collector.app import create_app
    from collector.ingest.connections import (
        ConnectionLimits,
        DescriptorLimitError,
        connection_bound,
        protocol,
        raise_descriptor_limit,
    )
    from collector.ops.confine import confine, plan, use_private_tmp, wipe_secrets

    before, descriptors = raise_descriptor_limit()
    try:
        max_connections = connection_bound(settings.max_connections, descriptors)
    except DescriptorLimitError as exc:
        raise SettingsError(str(exc)) from None
    limits = ConnectionLimits(
        settings.max_header_bytes,
        settings.header_timeout_s,
        settings.keepalive_timeout_s,
        max_connections,
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    base = f"http://{settings.host}:{settings.port}"
    print(
        f"microx collector on {base}\n"
        f"  demo shop:  {base}/\n"
        f"  snippet:    {base}/sdk.js\n"
        f"  ingest:     POST {base}/v1/events\n"
        f"  store:      {describe_url(settings.clickhouse_url)}\n"
        f"  report:     {base}/report (token in {settings.data_dir / 'query_token'} "
        "unless MICROX_QUERY_TOKEN is set)\n"
        f"  SQL:        {base}/clickhouse/ (ClickHouse HTTP, read-only), or\n"
        '              microx sql "SELECT type, count() FROM microx.events GROUP BY type"',
        flush=True,
    )
    app = create_app(settings)
    # Confined before the server and the engine start their threads (which would stay free).
    use_private_tmp(settings.data_dir)
    wiped = wipe_secrets()
    if settings.confine:
        log.info(confine(plan(settings.data_dir, settings.clickhouse_url, settings.port)))
    else:
        log.warning("unconfined: MICROX_CONFINE=false")
    if wiped:
        log.info("secrets removed from the process environment: %s", ", ".join(wiped))
    raised = f", raised from {before}" if descriptors != before else ""
    logging.getLogger("microx.connections").info(
        "connections: at most %d (descriptor limit %d%s, %d kept for the spool and store); "
        "head at most %d bytes within %gs; keep-alive %gs",
        max_connections,
        descriptors,
        raised,
        descriptors - max_connections,
        settings.max_header_bytes,
        settings.header_timeout_s,
        settings.keepalive_timeout_s,
    )
    uvicorn.run(
        app,
        http=protocol(limits, app.state.metrics),
        # X-Forwarded-For is read by the collector alone, as MICROX_TRUSTED_PROXY_HOPS says;
        # uvicorn's own handling would trust any local proxy's header.
        proxy_headers=False,
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


def _collector_running(settings: Settings) -> bool:
    try:
        with urllib.request.urlopen(
            f"http://{settings.host}:{settings.port}/clickhouse/ping", timeout=1
        ) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _reader(settings: Settings) -> SqlReader:
    """The store to read: while a collector holds the embedded store, through it."""
    if settings.clickhouse_url.startswith("chdb://") and _collector_running(settings):
        token = load_token(settings.query_token, settings.data_dir)
        return ThroughCollector(settings.host, settings.port, token)
    store = Store(settings.clickhouse_url)
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store


def _sql(settings: Settings, args: argparse.Namespace) -> int:
    store = _reader(settings)
    try:
        columns, rows = store.query(args.query)
    finally:
        store.close()
    # Through the collector's HTTP endpoint an empty result carries no column names.
    print(_format(columns, rows, args.format) if rows else "(no rows)")
    return 0


def _report(settings: Settings, args: argparse.Namespace) -> int:
    since, until = parse_window(args.since, args.until)
    store = _reader(settings)
    try:
        analysis = analyse(store.query, args.site, since, until, settings.goals.get(args.site, ()))
    finally:
        store.close()
    out = Path(args.out or f"microx-report-{args.site}-{until:%Y%m%d-%H%M}.html")
    out.write_text(render_html(analysis), encoding="utf-8")
    print(summary(analysis))
    print(f"\nreport written to {out}")
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


def _visitor(settings: Settings, args: argparse.Namespace) -> int:
    """Export or erase one visitor's data: through the running collector when there is
    one (it holds the spool, and the embedded store), else on the store and spool here."""
    visitor = visitor_id(args.visitor)
    if _collector_running(settings):
        return _visitor_through_collector(settings, args, visitor)
    spool_dir = settings.data_dir / "spool"
    store = Store(settings.clickhouse_url)
    try:
        store.migrate()
        subject = Visitor(store, spool_dir, args.site, visitor, saved_checkpoint(spool_dir))
        tombstones = Tombstones(spool_dir, settings.tombstones_max)
        if args.command == "export":
            body, _ = subject.export(tombstones)
            sys.stdout.write(body.decode())
            log_request("export", summary_of(body), None)
        else:
            result = subject.forget(tombstones, spool_end(spool_dir))
            print(orjson.dumps(result).decode())
            log_request("forget", result, None)
    finally:
        store.close()
    return 0


def _visitor_through_collector(settings: Settings, args: argparse.Namespace, visitor: str) -> int:
    key = next((k for k, site in settings.server_keys.items() if site == args.site), None)
    if key is None:
        raise SettingsError(
            f"a collector runs on {settings.host}:{settings.port}: asking it needs a server "
            f"key for site {args.site!r} in MICROX_SERVER_KEYS"
        )
    path = f"/v1/visitors/{visitor}" + ("/forget" if args.command == "forget" else "")
    request = urllib.request.Request(
        f"http://{settings.host}:{settings.port}{path}?site={args.site}",
        method="POST" if args.command == "forget" else "GET",
        headers={"authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:
            sys.stdout.write(answer.read().decode())
    except urllib.error.HTTPError as exc:
        print(f"microx: the collector answered {exc.code}: {exc.read().decode()}", file=sys.stderr)
        return 1
    if args.command == "forget":
        print()
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
    report = commands.add_parser(
        "report", help="write the friction report (HTML) and print its summary"
    )
    report.add_argument("--site", required=True)
    report.add_argument(
        "--since", default="7d", help="a span before --until (7d, 24h, 30m) or an ISO date"
    )
    report.add_argument(
        "--until", default="", help="the window's end: now, or a span before now, or an ISO date"
    )
    report.add_argument("--out", help="the HTML file (default microx-report-SITE-TIME.html)")
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
    for name, action in (
        ("export", "print everything stored about a visitor as JSON lines"),
        ("forget", "erase every row of a visitor, in the store and the spool"),
    ):
        command = commands.add_parser(name, help=action)
        command.add_argument("--site", required=True)
        command.add_argument("--visitor", required=True, help="the visitor id (a UUID)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        logs.configure(settings.log_level, settings.log_format)
        handler = {
            "serve": _serve,
            "sql": _sql,
            "report": _report,
            "migrate": _migrate,
            "keygen": _keygen,
            "cluster-schema": _cluster_schema,
            "export": _visitor,
            "forget": _visitor,
        }[args.command]
        return handler(settings, args)
    except (
        SettingsError,
        StoreUnavailable,
        ClusterSchemaError,
        TombstonesDamaged,
        TombstonesFull,
        ValueError,
    ) as exc:
        print(f"microx: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if args.command not in ("sql", "report"):
            raise
        # A bad query is the user's to fix: show ClickHouse's message, not a traceback.
        print(f"microx: query failed: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
