from __future__ import annotations

from pathlib import Path

import pytest

from collector.cli import main
from collector.ingest.sites import DEMO_SITE, SiteRegistry, parse_sites
from collector.ops.secrets import new_secret
from collector.read.goals import Goal
from collector.settings import DEFAULT_PORT, Settings, SettingsError


def test_defaults_put_the_embedded_store_under_the_data_dir() -> None:
    s = Settings.from_env({})
    assert (s.host, s.port) == ("127.0.0.1", DEFAULT_PORT)
    assert s.clickhouse_url == f"chdb://{(Path('./var') / 'clickhouse').resolve()}"


def test_variables_are_read() -> None:
    s = Settings.from_env(
        {
            "MICROX_PORT": "9000",
            "MICROX_QUERY_PORT": "9001",
            "MICROX_DATA_DIR": "/srv/microx",
            "MICROX_CLICKHOUSE_URL": "https://u:p@ch.example:8443/microx",
            "MICROX_SITES": "shop=https://shop.example",
            "MICROX_BATCH_MAX_ROWS": "50",
        }
    )
    assert (s.port, s.query_port) == (9000, 9001)
    assert Settings.from_env({}).query_port == 0  # off unless asked for
    assert s.data_dir == Path("/srv/microx")
    assert s.clickhouse_url == "https://u:p@ch.example:8443/microx"
    assert s.batch_max_rows == 50
    assert [site.id for site in s.sites] == ["shop"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MICROX_PORT": "eighty"}, "MICROX_PORT must be an integer"),
        ({"MICROX_PORT": "70000"}, "MICROX_PORT must be 1-65535"),
        ({"MICROX_QUERY_PORT": "8000"}, r"MICROX_QUERY_PORT must differ from MICROX_PORT \(8000\)"),
        (
            {"MICROX_PORT": "9000", "MICROX_QUERY_PORT": "9000"},
            r"MICROX_QUERY_PORT must differ from MICROX_PORT \(9000\)",
        ),
        ({"MICROX_QUERY_PORT": "-1"}, r"MICROX_QUERY_PORT must be 0 \(off\) or 1-65535"),
        ({"MICROX_QUERY_PORT": "sql"}, "MICROX_QUERY_PORT must be an integer"),
        ({"MICROX_CLICKHOUSE_URL": "postgres://x"}, "MICROX_CLICKHOUSE_URL must start with"),
        ({"MICROX_SITES": "Shop=https://a.example"}, "MICROX_SITES"),
        ({"MICROX_SITES": "shop=ftp://a.example"}, "is not an origin"),
        ({"MICROX_SITES": "a=https://a.example;a=https://b.example"}, "listed twice"),
        ({"MICROX_BATCH_MAX_AGE_MS": "0"}, "MICROX_BATCH_MAX_AGE_MS"),
        ({"MICROX_MAX_HEADER_BYTES": "100"}, "MICROX_MAX_HEADER_BYTES must be at least"),
        ({"MICROX_HEADER_TIMEOUT_S": "0"}, "MICROX_HEADER_TIMEOUT_S must be positive"),
        ({"MICROX_KEEPALIVE_TIMEOUT_S": "-1"}, "MICROX_KEEPALIVE_TIMEOUT_S must be positive"),
        ({"MICROX_MAX_CONNECTIONS": "-1"}, "MICROX_MAX_CONNECTIONS must be 0"),
    ],
)
def test_bad_configuration_fails_at_start_with_the_variable_named(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_site_registry_origins() -> None:
    sites = parse_sites(
        "shop=https://shop.example, https://www.shop.example/;blog=https://b.example"
    )
    registry = SiteRegistry(sites, ["http://127.0.0.1:8000"])
    assert registry.origin_allowed("shop", "https://www.shop.example")
    assert not registry.origin_allowed("shop", "https://b.example")
    assert registry.origin_allowed("shop", None)
    assert not registry.origin_allowed("nope", "https://shop.example")
    assert registry.origin_allowed(DEMO_SITE, "http://127.0.0.1:8000")
    assert registry.known_origin("https://b.example")
    assert not registry.known_origin("https://evil.example")


def test_server_keys() -> None:
    key = new_secret()
    s = Settings.from_env({"MICROX_SERVER_KEYS": f"shop={key}"})
    assert s.server_keys == {key: "shop"}
    with pytest.raises(SettingsError, match="MICROX_SERVER_KEYS") as info:
        Settings.from_env({"MICROX_SERVER_KEYS": "shop=mxsk_short"})
    assert "mxsk_short" not in str(info.value)  # a key never ends up in an error message
    with pytest.raises(SettingsError, match="listed twice"):
        Settings.from_env({"MICROX_SERVER_KEYS": f"a={key};b={key}"})


def test_keygen_prints_a_usable_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen"]) == 0
    key = capsys.readouterr().out.strip()
    assert Settings.from_env({"MICROX_SERVER_KEYS": f"shop={key}"}).server_keys == {key: "shop"}


def test_more_connections_than_descriptors_allow_fail_at_start(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("MICROX_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("MICROX_MAX_CONNECTIONS", str(10**9))
    assert main(["serve"]) == 2
    assert "MICROX_MAX_CONNECTIONS=1000000000 needs a descriptor limit" in capsys.readouterr().err
    assert not (tmp_path / "var").exists()


def test_goals_are_declared_per_site() -> None:
    s = Settings.from_env(
        {
            "MICROX_GOALS": "shop=purchase:step:checkout/done, returned:return:7,"
            "happy:rating:checkout>=4;blog=signup:moment:newsletter"
        }
    )
    assert s.goals == {
        "shop": (
            Goal("purchase", "step", "checkout", "done"),
            Goal("returned", "return", days=7),
            Goal("happy", "rating", "checkout", rating=4.0),
        ),
        "blog": (Goal("signup", "moment", "newsletter"),),
    }


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("shop=buy:step:checkout", "step:FUNNEL/STEP"),
        ("shop=buy:purchase:x", "kind must be one of"),
        ("shop=back:return:0", "1-365 days"),
        ("shop=happy:rating:checkout", "rating:NAME>=N"),
        ("shop=a b:moment:x", "goal name"),
        ("shop=buy:moment:x,buy:moment:y", "names a goal twice"),
    ],
)
def test_bad_goals_fail_at_start(value: str, error: str) -> None:
    with pytest.raises(SettingsError, match=f"MICROX_GOALS: .*{error}"):
        Settings.from_env({"MICROX_GOALS": value})
