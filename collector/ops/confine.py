"""The collector's process confined to what it needs, by the kernel (Landlock).

The embedded engine runs inside the collector: whatever an analyst's query made it do, the
process would do. Queries are checked before they run (``collector.read.sqlguard``); this is
the floor beneath that check. Once the collector is set up it may read its code, its
libraries and a few system files, write only its spool, its sink's record and its store,
bind only its ports and, on the embedded engine, open no TCP connection at all (nothing to
fetch a URL with); with a ClickHouse server, only to its port. Secrets are also wiped from
the environment that ``/proc/<pid>/environ`` shows, and from what child processes inherit.

Linux only, and only where the kernel has Landlock (5.13+; TCP rules 6.7+): elsewhere the
collector logs that it runs unconfined.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import sys
import sysconfig
import tempfile
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger("microx")

# Variables whose values are secrets: kept in the settings, wiped from the environment.
SECRET_VARIABLES = ("MICROX_SERVER_KEYS", "MICROX_QUERY_TOKEN", "MICROX_CLICKHOUSE_URL")

_SYS_CREATE_RULESET = 444  # x86_64 and aarch64 share these numbers
_SYS_ADD_RULE = 445
_SYS_RESTRICT_SELF = 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_RULE_NET_PORT = 2
_PR_SET_NO_NEW_PRIVS = 38

_EXECUTE = 1 << 0
_WRITE_FILE = 1 << 1
_READ_FILE = 1 << 2
_READ_DIR = 1 << 3
_TRUNCATE = 1 << 14
_IOCTL_DEV = 1 << 15
_BIND_TCP = 1 << 0
_CONNECT_TCP = 1 << 1
# Every filesystem right each ABI version knows (2 adds REFER, 3 TRUNCATE, 5 IOCTL_DEV).
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
_FS_LATEST = (1 << 16) - 1
_READ = _EXECUTE | _READ_FILE | _READ_DIR
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV

# System files a Python service reads at run time: certificates and name resolution for a
# ClickHouse server, time zones, MIME types for the demo's static files.
_SYSTEM_READ = (
    "/usr",
    "/lib",
    "/lib64",
    "/bin",
    "/proc",
    "/sys",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/ld.so.cache",
    "/etc/mime.types",
    "/etc/services",
    "/etc/protocols",
)
_DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


@dataclasses.dataclass(frozen=True)
class Confinement:
    """What the process keeps once confined."""

    read: tuple[Path, ...]
    list_only: tuple[Path, ...]
    write: tuple[Path, ...]
    bind_ports: tuple[int, ...]
    connect_ports: tuple[int, ...]


def plan(
    data_dir: Path, store_url: str, ports: Iterable[int], extra_read: Iterable[Path] = ()
) -> Confinement:
    """The collector's needs: its code and libraries, its spool, sink record and store, its
    ports (the collector's, and the query port when there is one)."""
    # Not the whole checkout: the data directory (and its query token) may lie inside it.
    package = Path(__file__).resolve().parent.parent
    code = {Path(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    code |= {Path(p) for p in sysconfig.get_paths().values()}
    code |= {package, package.parent / "schema", package.parent / "sdk_js" / "dist"}
    code.add(Path(sys.executable).resolve().parent)
    # Worker processes start by importing the main module again: its package must be read.
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    if main:
        code.add(Path(main).resolve().parent)
    code = {p for p in code if not _holds(p, data_dir)}
    write = [data_dir / "spool", data_dir / "sink", data_dir / "tmp", Path("/dev/shm")]
    connect: list[int] = []
    if store_url.startswith("chdb://"):
        write.append(Path(store_url.removeprefix("chdb://")))
    else:
        parts = urlsplit(store_url)
        connect.append(parts.port or (8443 if parts.scheme == "https" else 8123))
    read = [*code, *(Path(p) for p in _SYSTEM_READ), *extra_read]
    return Confinement(
        read=tuple(sorted({p for p in read if p.exists()})),
        # The checkout's directories may be listed (imports look there), its files not read.
        list_only=(package.parent,),
        write=tuple(sorted(set(write))),
        # Port 0: the engine probes for IPv6 by binding ::1 to an ephemeral port.
        bind_ports=(*ports, 0),
        connect_ports=tuple(connect),
    )


def _holds(directory: Path, inner: Path) -> bool:
    try:
        inner.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True


def use_private_tmp(data_dir: Path) -> Path:
    """Temporary files (the engine's and the driver's) under the data directory, the one
    place the confined process may write."""
    tmp = data_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = str(tmp)
    return tmp


def wipe_secrets(names: Iterable[str] = SECRET_VARIABLES) -> list[str]:
    """Remove secret variables from the environment children inherit, and overwrite their
    values in the block the kernel shows as ``/proc/self/environ``. Returns those wiped."""
    wiped = [name for name in names if os.environ.pop(name, None) is not None]
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        # Fields 50 and 51 of stat (the 48th and 49th after the name): the environment's bounds.
        start, end = int(fields[47]), int(fields[48])
        block = ctypes.string_at(start, end - start)
    except (OSError, ValueError, IndexError):
        return wiped
    offset = 0
    for entry in block.split(b"\0"):
        name, sep, value = entry.partition(b"=")
        if sep and name.decode(errors="replace") in names and value:
            at = start + offset + len(name) + 1
            ctypes.memset(at, ord("x"), len(value))
        offset += len(entry) + 1
    return wiped


def abi_version() -> int:
    """The kernel's Landlock ABI version, 0 where there is none."""
    if not sys.platform.startswith("linux"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    version = int(libc.syscall(_SYS_CREATE_RULESET, None, 0, _CREATE_RULESET_VERSION))
    return max(version, 0)


def confine(confinement: Confinement) -> str:
    """Restrict this process and its future children; returns what was done, for the log.
    Call it before any thread starts: threads already running keep their freedom."""
    abi = abi_version()
    if abi < 1:
        return "unconfined: this kernel has no Landlock"
    threads = len(os.listdir("/proc/self/task"))
    if threads > 1:
        return f"unconfined: {threads} threads already run"
    libc = ctypes.CDLL(None, use_errno=True)
    fs_rights = _FS_BY_ABI.get(abi, _FS_LATEST)
    net = abi >= 4
    attr = _RulesetAttr(fs_rights, (_BIND_TCP | _CONNECT_TCP) if net else 0)
    # ABI 4+ reads the net field; older kernels a struct of the first field only.
    size = ctypes.sizeof(attr) if net else ctypes.sizeof(ctypes.c_uint64)
    ruleset = int(libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), size, 0))
    if ruleset < 0:
        return f"unconfined: {os.strerror(ctypes.get_errno())}"
    try:
        for path in confinement.read:
            _allow_path(libc, ruleset, path, _READ & fs_rights)
        for path in confinement.list_only:
            _allow_path(libc, ruleset, path, _READ_DIR & fs_rights)
        for path in confinement.write:
            path.mkdir(parents=True, exist_ok=True)
            _allow_path(libc, ruleset, path, fs_rights)
        for device in _DEVICES:
            if os.path.exists(device):
                _allow_path(
                    libc, ruleset, Path(device), (_READ_FILE | _WRITE_FILE | _IOCTL_DEV) & fs_rights
                )
        if net:
            for port in confinement.bind_ports:
                _allow_port(libc, ruleset, port, _BIND_TCP)
            for port in confinement.connect_ports:
                _allow_port(libc, ruleset, port, _CONNECT_TCP)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return f"unconfined: no_new_privs: {os.strerror(ctypes.get_errno())}"
        if libc.syscall(_SYS_RESTRICT_SELF, ruleset, 0) != 0:
            return f"unconfined: {os.strerror(ctypes.get_errno())}"
    finally:
        os.close(ruleset)
    tcp = (
        f"TCP connect only to port(s) {', '.join(map(str, confinement.connect_ports))}"
        if confinement.connect_ports
        else "no TCP connections"
    )
    return (
        f"confined (Landlock ABI {abi}): writes only under "
        f"{', '.join(map(str, confinement.write))}; "
        + (
            f"{tcp}, listening only on port(s) "
            f"{', '.join(str(p) for p in confinement.bind_ports if p)}"
            if net
            else "network unrestricted"
        )
    )


def _allow_path(libc: ctypes.CDLL, ruleset: int, path: Path, rights: int) -> None:
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        if not path.is_dir():
            rights &= _FILE_RIGHTS
        rule = _PathBeneathAttr(rights, fd)
        if libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
            raise OSError(ctypes.get_errno(), f"landlock rule for {path}")
    finally:
        os.close(fd)


def _allow_port(libc: ctypes.CDLL, ruleset: int, port: int, rights: int) -> None:
    rule = _NetPortAttr(rights, port)
    if libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_NET_PORT, ctypes.byref(rule), 0) != 0:
        raise OSError(ctypes.get_errno(), f"landlock rule for port {port}")
