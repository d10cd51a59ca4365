"""The ``microx`` command: ``serve``, ``sql``, ``report``, ``annotate``, ``migrate``, ``keygen``,
``cluster-schema``, and ``export`` and ``forget`` for a visitor's data."""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from collector.ops import listening, logs
from collector.ops.secrets import new_secret
from collector.read.analysis import analyse, parse_segment, parse_since, parse_window, summary
from collector.read.annotations import BadAnnotation, annotation, store_annotation
from collector.read.journey import JourneyError, Phase, check, load_journeys, save_journey
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
# Where `microx report` writes when not told: a directory of its own (git ignores it in the
# checkout), so reports do not pile up wherever the command runs.
REPORTS_DIR = Path("reports")
# How long a thread may hold the GIL while another waits for it (Python's default is 5 ms).
# The sink's thread runs Python over a whole batch once a second, and each time the event
# loop let go of the GIL it waited up to the interval to get it back: the tail of the
# answers' latency (loadtests/README.md, "request path").
GIL_SWITCH_INTERVAL_S = 0.0005


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
    query_port = (
        f"              http://{settings.host}:{settings.query_port}/ (its own port: SQL only)\n"
        if settings.query_port
        else ""
    )
    print(
        f"microx collector on {base}\n"
        f"  demo shop:  {base}/\n"
        f"  snippet:    {base}/sdk.js\n"
        f"  ingest:     POST {base}/v1/events\n"
        f"  store:      {describe_url(settings.clickhouse_url)}\n"
        f"  report:     {base}/report (token in {settings.data_dir / 'query_token'} "
        "unless MICROX_QUERY_TOKEN is set)\n"
        f"  SQL:        {base}/clickhouse/ (ClickHouse HTTP, read-only), or\n"
        f"{query_port}"
        '              microx sql "SELECT type, count() FROM microx.events GROUP BY type"',
        flush=True,
    )
    app = create_app(settings)
    # Confined before the server and the engine start their threads (which would stay free).
    use_private_tmp(settings.data_dir)
    # Before the confinement, which leaves the data directory's top read-only.
    listening.record(settings.data_dir, settings.host, settings.port, settings.query_port)
    wiped = wipe_secrets()
    ports = (settings.port, settings.query_port) if settings.query_port else (settings.port,)
    if settings.confine:
        log.info(confine(plan(settings.data_dir, settings.clickhouse_url, ports)))
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
    config = uvicorn.Config(
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
    # One server on every socket: one event loop, and the same connection limits for all.
    sockets = [_listen(settings.host, settings.port, "MICROX_PORT")]
    if settings.query_port:
        sockets.append(_listen(settings.host, settings.query_port, "MICROX_QUERY_PORT"))
    server = uvicorn.Server(config)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    # uvicorn raises Ctrl-C's KeyboardInterrupt again once it has shut down cleanly.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=sockets)
    if not server.started:
        return 3  # the lifespan failed; its error is logged
    return 0


def _listen(host: str, port: int, variable: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SettingsError(
            f"cannot listen on {host}:{port} ({variable}): {exc.strerror or exc}"
        ) from None
    return sock


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


def _answers(at: listening.Listening) -> bool:
    try:
        with urllib.request.urlopen(f"{at.url()}/clickhouse/ping", timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _running_collector(settings: Settings) -> listening.Listening | None:
    """The collector serving this data directory, if one runs: where its record says (its
    process alive and its port answering), else, for a directory with no record, on the
    configured host and port."""
    at = listening.recorded(settings.data_dir)
    if at is not None:
        if not at.process_runs():
            # A record whose collector is gone says nothing of whoever listens there now.
            return None
        if not _answers(at):
            raise StoreUnavailable(
                f"the collector of {settings.data_dir} (process {at.pid}) runs but does not "
                f"answer on {at.url()} (starting, or stopping): retry in a moment"
            )
        return at
    configured = listening.Listening(settings.host, settings.port, settings.query_port, 0)
    return configured if _answers(configured) else None


def _reader(settings: Settings) -> SqlReader:
    """The store to read: while a collector holds the embedded store, through it."""
    at = _running_collector(settings) if settings.clickhouse_url.startswith("chdb://") else None
    if at is not None:
        token = load_token(settings.query_token, settings.data_dir)
        return ThroughCollector(at.reachable_host, at.port, token)
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
    segment = parse_segment(args.segment)
    journey = _journeys(settings).get(args.site, ())
    store = _reader(settings)
    try:
        goals = settings.goals.get(args.site, ())
        analysis = analyse(store.query, args.site, since, until, goals, journey, segment)
    finally:
        store.close()
    out = Path(args.out or REPORTS_DIR / f"microx-report-{args.site}-{until:%Y%m%d-%H%M}.html")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(analysis), encoding="utf-8")
    print(summary(analysis))
    print(f"\nreport written to {out}")
    return 0


def _journeys(settings: Settings) -> dict[str, tuple[Phase, ...]]:
    try:
        return load_journeys(settings.journey_path)
    except JourneyError as exc:
        raise SettingsError(str(exc)) from None


def _journey(settings: Settings, args: argparse.Namespace) -> int:
    """Show a site's journey map, or set it: ``--phase NAME=MOMENT,MOMENT`` in order."""
    path = settings.journey_path
    if args.phase or args.clear:
        phases: list[tuple[str, object]] = []
        for given in args.phase:
            name, _, moments = given.partition("=")
            phases.append((name.strip(), [m.strip() for m in moments.split(",") if m.strip()]))
        try:
            checked = check(args.site, phases, "--phase")
        except JourneyError as exc:
            raise SettingsError(str(exc)) from None
        save_journey(path, args.site, checked)
        print(f"journey map of {args.site!r} written to {path}; a running collector reads it")
        print("when it starts (restart it); microx report reads it every time")
    phases_now = _journeys(settings).get(args.site, ())
    if not phases_now:
        print(f"no journey map for {args.site!r} in {path}")
        return 0
    for name, moments in phases_now:
        print(name)
        for m in moments:
            print(f"  {m}")
    return 0


def _annotate(settings: Settings, args: argparse.Namespace) -> int:
    """Record a change: through the running collector when there is one (it holds the
    embedded store), else into the store here."""
    try:
        at = parse_since(args.at, option="--at") if args.at else None
        note = annotation(args.site, args.text, at.isoformat() if at else None, args.moment)
    except (BadAnnotation, ValueError) as exc:
        raise SettingsError(str(exc)) from None
    found = _running_collector(settings) if settings.clickhouse_url.startswith("chdb://") else None
    if found is not None:
        key = _server_key(settings, args.site, found)
        body = {"text": note.text, "at": note.at.isoformat(), "moment": note.moment}
        request = urllib.request.Request(
            f"{found.url()}/v1/annotations",
            data=orjson.dumps(body),
            method="POST",
            headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            print(
                f"microx: the collector answered {exc.code}: {exc.read().decode()}", file=sys.stderr
            )
            return 1
    else:
        store = Store(settings.clickhouse_url)
        try:
            store.migrate()
            store_annotation(store, note)
        finally:
            store.close()
    print(f"annotated {note.site!r} at {note.at:%Y-%m-%d %H:%M:%S} UTC: {note.text} ({note.id})")
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
    at = _running_collector(settings)
    if at is not None:
        return _visitor_through_collector(settings, args, visitor, at)
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


def _server_key(settings: Settings, site: str, at: listening.Listening) -> str:
    key = next((k for k, s in settings.server_keys.items() if s == site), None)
    if key is None:
        raise SettingsError(
            f"a collector runs on {at.url()}: asking it needs a server "
            f"key for site {site!r} in MICROX_SERVER_KEYS"
        )
    return key


def _visitor_through_collector(
    settings: Settings, args: argparse.Namespace, visitor: str, at: listening.Listening
) -> int:
    key = _server_key(settings, args.site, at)
    path = f"/v1/visitors/{visitor}" + ("/forget" if args.command == "forget" else "")
    request = urllib.request.Request(
        f"{at.url()}{path}?site={args.site}",
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
    report.add_argument(
        "--segment",
        default="",
        help="only these visitors: key=value pairs joined by &, the keys device, browser, os,"
        " route, visit (new, returning), variant (EXPERIMENT/VARIANT) and source",
    )
    report.add_argument(
        "--out", help=f"the HTML file (default {REPORTS_DIR}/microx-report-SITE-TIME.html)"
    )
    journey = commands.add_parser(
        "journey", help="show or set a site's journey map: its phases and key moments"
    )
    journey.add_argument("--site", required=True)
    journey.add_argument(
        "--phase",
        action="append",
        default=[],
        help="NAME=MOMENT,MOMENT (repeat, in the visitor's order): replaces the site's map",
    )
    journey.add_argument("--clear", action="store_true", help="remove the site's map")
    annotate = commands.add_parser(
        "annotate", help="record a change (a deploy, a fix) for the report to set against"
    )
    annotate.add_argument("--site", required=True)
    annotate.add_argument("text", help="what changed")
    annotate.add_argument("--at", help="when: an ISO date or time, or a span before now (2h)")
    annotate.add_argument("--moment", default="", help="the moment it is about (default: none)")
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
            "annotate": _annotate,
            "journey": _journey,
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
