"""ClickHouse URLs: what each form connects to, and clear errors for the bad ones."""

from __future__ import annotations

import os

import pytest

from mastra_storage.errors import InvalidStoreURLError
from mastra_storage.storage import create_store
from mastra_storage.storage.clickhouse import ClickHouseStore, parse_url
from mastra_storage.storage.clickhouse.client import ChdbPathInUseError, acquire, open_chdb_paths
from mastra_storage.storage.clickhouse.config import ConnectionSpec
from tests.backends.clickhouse import session_provider


def test_http_url():
    spec = parse_url("clickhouse://alice:s%40cret@ch.example.com:8124/traces")
    assert (spec.interface, spec.host, spec.port) == ("http", "ch.example.com", 8124)
    assert (spec.username, spec.password, spec.database) == ("alice", "s@cret", "traces")
    assert spec.secure is False and spec.path is None


def test_defaults():
    spec = parse_url("clickhouse://ch.local")
    assert (spec.port, spec.username, spec.password, spec.database) == \
        (8123, "default", "", "default")


def test_clickhouses_is_secure_with_https_port():
    spec = parse_url("clickhouses://bob:pw@ch.example.com/db1")
    assert spec.interface == "https" and spec.secure is True
    assert spec.port == 8443 and spec.database == "db1"
    assert parse_url("clickhouses://h:9440/x").port == 9440
    assert parse_url("clickhouse://h/x?secure=true").secure is True


def test_chdb_urls():
    spec = parse_url("chdb:///var/lib/mastra/chdb")
    assert (spec.interface, spec.path, spec.database) == ("chdb", "/var/lib/mastra/chdb",
                                                          "default")
    assert parse_url("chdb:///data/ch?database=obs").database == "obs"
    assert parse_url("chdb:rel/dir").path == "rel/dir"
    assert parse_url("chdb://memory").path == ":memory:"
    assert parse_url("chdb://memory/obs").database == "obs"


def test_query_options_are_typed():
    spec = parse_url("clickhouse://h/db?ttl_days=30&cluster=prod&async_insert=true"
                     "&connect_timeout=5&compress=zstd&verify=false")
    assert spec.store_options == {"ttl_days": 30, "cluster": "prod", "async_insert": True}
    assert spec.client_options == {"connect_timeout": 5, "compress": "zstd", "verify": False}


@pytest.mark.parametrize("url, words", [
    ("clickhouse://", "needs a host"),
    ("clickhouse:///db", "needs a host"),
    ("clickhouse://h:notaport/db", "invalid port"),
    ("clickhouse://h/a/b", "just the database name"),
    ("clickhouse://h/db?colour=red", "unknown ClickHouse URL option"),
    ("clickhouse://h/db?ttl_days=soon", "must be an integer"),
    ("clickhouse://h/db?async_insert=maybe", "true or false"),
    ("clickhouse://h/db?ttl_days=1&ttl_days=2", "given twice"),
    ("chdb://somehost/data", "not a host"),
    ("chdb://", "needs a data directory"),
    ("chdb:///", "needs a data directory"),
    ("chdb:///x?connect_timeout=3", "no meaning"),
    ("chdb:///x?secure=true", "no meaning"),
    ("postgres://h/db", "not a ClickHouse URL"),
    ("", "non-empty"),
])
def test_bad_urls_name_the_problem(url, words):
    with pytest.raises(InvalidStoreURLError) as info:
        parse_url(url)
    assert words in str(info.value)


def test_create_store_rejects_hostless_clickhouse_url():
    with pytest.raises(InvalidStoreURLError, match="needs a host"):
        create_store("clickhouse:///db")


def test_from_url_passes_options_and_keywords_win():
    store = ClickHouseStore.from_url("clickhouse://u:pw@h:9000/db?ttl_days=7&cluster=c1",
                                     ttl_days=14, auto_migrate=False)
    try:
        assert store.schema.ttl_days == 14 and store.schema.cluster == "c1"
        assert store.spec.port == 9000 and store.database == "db"
        assert "pw" not in repr(store)
    finally:
        store.close()  # never connected


def test_invalid_store_options():
    with pytest.raises(ValueError, match="host"):
        ClickHouseStore()
    with pytest.raises(ValueError, match="delete_method"):
        ClickHouseStore(host="h", delete_method="truncate")
    with pytest.raises(ValueError, match="max_insert_rows"):
        ClickHouseStore(host="h", max_insert_rows=0)
    with pytest.raises(ValueError, match="ttl_days"):
        ClickHouseStore(host="h", ttl_days=0)
    with pytest.raises(ValueError, match="database name"):
        ClickHouseStore(host="h", database="x; DROP")


def test_create_store_with_a_chdb_url(tmp_path_factory):
    provider = session_provider(tmp_path_factory)
    if "path" not in provider.info:
        pytest.skip("the session's ClickHouse is a server, not chdb")
    db = provider.info["new_database"]()
    store = create_store(f"chdb://{provider.info['path']}?database={db}")
    assert isinstance(store, ClickHouseStore)
    try:
        assert store.database == db
        assert store.list_traces().total == 0
        assert store.query_rows("SELECT count() FROM system.databases WHERE name = {d:String}",
                                {"d": db}) == [(1,)]
    finally:
        store.command(f"DROP DATABASE IF EXISTS `{db}` SYNC")
        store.close()


def test_a_second_chdb_path_in_one_process_is_refused(tmp_path_factory, tmp_path):
    provider = session_provider(tmp_path_factory)
    if "path" not in provider.info:
        pytest.skip("the session's ClickHouse is a server, not chdb")
    assert open_chdb_paths() == [os.path.realpath(provider.info["path"])]
    with pytest.raises(ChdbPathInUseError) as info:
        acquire(ConnectionSpec("chdb", path=str(tmp_path / "other")))
    assert provider.info["path"] in str(info.value) and "other" in str(info.value)
