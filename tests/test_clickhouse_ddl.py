"""The rendered ClickHouse DDL, statement by statement (no engine needed)."""

from __future__ import annotations

import pytest

from mastra_storage.storage.clickhouse import ddl, offline_sql
from mastra_storage.storage.clickhouse.ddl import DDLOptionsError, SchemaOptions
from mastra_storage.storage.clickhouse.migrations import MIGRATIONS, render

COLUMNS = """\
    `traceId` String,
    `spanId` String,
    `name` String,
    `spanType` String,
    `isEvent` Bool,
    `startedAt` DateTime64(3, 'UTC'),
    `parentSpanId` Nullable(String),
    `entityType` Nullable(String),
    `entityId` Nullable(String),
    `entityName` Nullable(String),
    `parentEntityType` Nullable(String),
    `parentEntityId` Nullable(String),
    `parentEntityName` Nullable(String),
    `rootEntityType` Nullable(String),
    `rootEntityId` Nullable(String),
    `rootEntityName` Nullable(String),
    `userId` Nullable(String),
    `organizationId` Nullable(String),
    `resourceId` Nullable(String),
    `runId` Nullable(String),
    `sessionId` Nullable(String),
    `threadId` Nullable(String),
    `requestId` Nullable(String),
    `environment` Nullable(String),
    `serviceName` Nullable(String),
    `scope` Nullable(String) CODEC(ZSTD(3)),
    `entityVersionId` Nullable(String),
    `parentEntityVersionId` Nullable(String),
    `rootEntityVersionId` Nullable(String),
    `experimentId` Nullable(String),
    `source` Nullable(String),
    `metadata` Nullable(String) DEFAULT '{}' CODEC(ZSTD(3)),
    `tags` Nullable(String) CODEC(ZSTD(3)),
    `attributes` Nullable(String) CODEC(ZSTD(3)),
    `links` Nullable(String) CODEC(ZSTD(3)),
    `input` Nullable(String) CODEC(ZSTD(3)),
    `output` Nullable(String) CODEC(ZSTD(3)),
    `error` Nullable(String) CODEC(ZSTD(3)),
    `endedAt` Nullable(DateTime64(3, 'UTC')),
    `requestContext` Nullable(String) CODEC(ZSTD(3)),
    `createdAt` DateTime64(3, 'UTC'),
    `updatedAt` DateTime64(3, 'UTC'),
    `_isChild` Bool MATERIALIZED ifNull(`parentSpanId`, '') != '',
    `_rootStartedAt` DateTime64(3, 'UTC') MATERIALIZED \
if(ifNull(`parentSpanId`, '') != '', toDateTime64(0, 3, 'UTC'), `startedAt`)"""

SINGLE_NODE = f"""\
CREATE TABLE IF NOT EXISTS `mastra`.`mastra_ai_spans`
(
{COLUMNS}
)
ENGINE = ReplacingMergeTree(`updatedAt`)
PARTITION BY toYYYYMM(`startedAt`)
ORDER BY (`_isChild`, `_rootStartedAt`, `traceId`, `spanId`)
SETTINGS index_granularity = 8192"""

INDEXES = """\
    ADD INDEX IF NOT EXISTS `idx_traceId` `traceId` TYPE bloom_filter(0.001) GRANULARITY 1,
    ADD INDEX IF NOT EXISTS `idx_runId` `runId` TYPE bloom_filter(0.01) GRANULARITY 1,
    ADD INDEX IF NOT EXISTS `idx_threadId` `threadId` TYPE bloom_filter(0.01) GRANULARITY 1,
    ADD INDEX IF NOT EXISTS `idx_sessionId` `sessionId` TYPE bloom_filter(0.01) GRANULARITY 1,
    ADD INDEX IF NOT EXISTS `idx_requestId` `requestId` TYPE bloom_filter(0.01) GRANULARITY 1,
    ADD INDEX IF NOT EXISTS `idx_userId` `userId` TYPE bloom_filter(0.01) GRANULARITY 1,
    ADD INDEX IF NOT EXISTS `idx_resourceId` `resourceId` TYPE bloom_filter(0.01) GRANULARITY 1"""


def test_single_node_table():
    assert ddl.create_spans_table(SchemaOptions(database="mastra")) == SINGLE_NODE


def test_single_node_skip_indexes_are_one_alter():
    assert ddl.add_skip_indexes(SchemaOptions(database="mastra")) == [
        f"ALTER TABLE `mastra`.`mastra_ai_spans`\n{INDEXES}"]


def test_single_node_history_table_and_database():
    opts = SchemaOptions(database="mastra")
    assert ddl.create_database(opts) == "CREATE DATABASE IF NOT EXISTS `mastra`"
    assert ddl.create_history_table(opts) == (
        "CREATE TABLE IF NOT EXISTS `mastra`.`mastra_storage_migrations`\n"
        "(\n"
        "    `version` UInt32,\n"
        "    `name` String,\n"
        "    `applied_at` DateTime64(3, 'UTC')\n"
        ")\n"
        "ENGINE = ReplacingMergeTree(`applied_at`)\n"
        "ORDER BY `version`")


def test_ttl_days_renders_a_delete_ttl():
    table = ddl.create_spans_table(SchemaOptions(database="mastra", ttl_days=30))
    assert table == SINGLE_NODE.replace(
        "SETTINGS", "TTL toDateTime(`startedAt`) + toIntervalDay(30) DELETE\nSETTINGS")
    assert ddl.modify_ttl(SchemaOptions(database="mastra", ttl_days=7)) == (
        "ALTER TABLE `mastra`.`mastra_ai_spans` MODIFY TTL "
        "toDateTime(`startedAt`) + toIntervalDay(7) DELETE")
    assert ddl.modify_ttl(SchemaOptions(database="mastra")) == \
        "ALTER TABLE `mastra`.`mastra_ai_spans` REMOVE TTL"


def test_codecs_can_be_turned_off():
    table = ddl.create_spans_table(SchemaOptions(database="mastra", codecs=False))
    assert "CODEC" not in table
    assert table == SINGLE_NODE.replace(" CODEC(ZSTD(3))", "")


def test_mastra_layout_is_mastras_own_table():
    table = ddl.create_spans_table(SchemaOptions(database="m", layout="mastra", codecs=False))
    assert table.endswith("ENGINE = ReplacingMergeTree(`updatedAt`)\n"
                          "ORDER BY (`traceId`, `spanId`)\n"
                          "SETTINGS index_granularity = 8192")
    assert "MATERIALIZED" not in table and "PARTITION" not in table


def test_cluster_statements():
    opts = SchemaOptions(database="mastra", cluster="prod")
    assert ddl.create_database(opts) == "CREATE DATABASE IF NOT EXISTS `mastra` ON CLUSTER `prod`"
    local, distributed = ddl.schema_statements(opts)
    assert local == SINGLE_NODE.replace(
        "CREATE TABLE IF NOT EXISTS `mastra`.`mastra_ai_spans`",
        "CREATE TABLE IF NOT EXISTS `mastra`.`mastra_ai_spans_local` ON CLUSTER `prod`",
    ).replace(
        "ENGINE = ReplacingMergeTree(`updatedAt`)",
        "ENGINE = ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}', `updatedAt`)")
    assert distributed == (
        "CREATE TABLE IF NOT EXISTS `mastra`.`mastra_ai_spans` ON CLUSTER `prod`\n"
        "AS `mastra`.`mastra_ai_spans_local`\n"
        "ENGINE = Distributed('prod', 'mastra', 'mastra_ai_spans_local', "
        "cityHash64(`traceId`))")
    assert ddl.add_skip_indexes(opts) == [
        f"ALTER TABLE `mastra`.`mastra_ai_spans_local` ON CLUSTER `prod`\n{INDEXES}"]
    assert ddl.create_history_table(opts) == (
        "CREATE TABLE IF NOT EXISTS `mastra`.`mastra_storage_migrations` ON CLUSTER `prod`\n"
        "(\n"
        "    `version` UInt32,\n"
        "    `name` String,\n"
        "    `applied_at` DateTime64(3, 'UTC')\n"
        ")\n"
        "ENGINE = ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/{database}/{table}', '{replica}', `applied_at`)\n"
        "ORDER BY `version`")
    assert ddl.modify_ttl(SchemaOptions(database="mastra", cluster="prod", ttl_days=90)) == (
        "ALTER TABLE `mastra`.`mastra_ai_spans_local` ON CLUSTER `prod` MODIFY TTL "
        "toDateTime(`startedAt`) + toIntervalDay(90) DELETE")


def test_cluster_names_reads_and_writes():
    opts = SchemaOptions(database="mastra", cluster="prod")
    assert opts.spans == "`mastra`.`mastra_ai_spans`"  # the Distributed table
    assert opts.spans_local == "`mastra`.`mastra_ai_spans_local`"  # DELETE / ALTER target
    single = SchemaOptions(database="mastra")
    assert single.spans == single.spans_local == "`mastra`.`mastra_ai_spans`"


def test_cluster_custom_replication_paths():
    opts = SchemaOptions(database="obs", cluster="c", zookeeper_path="/ch/{shard}/spans",
                         replica_name="{replica}-x", sharding_key="rand()")
    local, distributed = ddl.schema_statements(opts)
    assert ("ENGINE = ReplicatedReplacingMergeTree('/ch/{shard}/spans', '{replica}-x', "
            "`updatedAt`)") in local.splitlines()
    assert distributed.endswith("ENGINE = Distributed('c', 'obs', 'mastra_ai_spans_local', "
                                "rand())")


def test_identifiers_and_literals_are_quoted():
    assert ddl.quote_ident("a`b") == "`a\\`b`"
    assert ddl.quote_str("it's") == "'it\\'s'"
    opts = SchemaOptions(database="db", cluster="we`ird")
    assert opts.on_cluster == " ON CLUSTER `we\\`ird`"


@pytest.mark.parametrize("kwargs, words", [
    ({"database": "x; DROP TABLE y"}, "database name"),
    ({"database": ""}, "database name"),
    ({"cluster": "  "}, "cluster"),
    ({"ttl_days": 0}, "ttl_days"),
    ({"ttl_days": True}, "ttl_days"),
    ({"layout": "sideways"}, "unknown layout"),
    ({"table_settings": {"x=1; DROP": "1"}}, "setting name"),
])
def test_invalid_options(kwargs, words):
    with pytest.raises(DDLOptionsError, match=words):
        SchemaOptions(**kwargs)


def test_offline_sql_is_every_migration_with_history_rows():
    text = offline_sql(database="mastra")
    statements = [s for s in text.split(";\n\n")]
    assert statements[0] == "CREATE DATABASE IF NOT EXISTS `mastra`"
    assert statements[2] == SINGLE_NODE
    assert statements[3] == ("INSERT INTO `mastra`.`mastra_storage_migrations` "
                             "(`version`, `name`, `applied_at`) VALUES "
                             "(1, 'create mastra_ai_spans', now64(3, 'UTC'))")
    assert statements[4] == f"ALTER TABLE `mastra`.`mastra_ai_spans`\n{INDEXES}"
    assert statements[5].startswith("INSERT INTO `mastra`.`mastra_storage_migrations`")
    assert statements[5].rstrip(";\n").endswith(
        "(2, 'skip indexes on the trace and correlation ids', now64(3, 'UTC'))")
    signal_tables = ["mastra_metric_events", "mastra_log_events", "mastra_score_events",
                     "mastra_feedback_events"]
    for i, table in enumerate(signal_tables, start=6):
        assert statements[i].startswith(f"CREATE TABLE IF NOT EXISTS `mastra`.`{table}`")
    for i, table in enumerate(signal_tables, start=10):
        assert statements[i].startswith(f"ALTER TABLE `mastra`.`{table}`")
    assert statements[14].startswith(
        "CREATE TABLE IF NOT EXISTS `mastra`.`mastra_storage_feedback_review`")
    assert statements[15].rstrip(";\n").endswith(
        f"(3, '{MIGRATIONS[2].name}', now64(3, 'UTC'))")
    assert len(statements) == 16 and text.endswith(";\n")


def test_offline_sql_from_a_url_keeps_cluster_and_ttl():
    text = offline_sql("clickhouse://u:p@h/obs?cluster=prod&ttl_days=30")
    assert "CREATE TABLE IF NOT EXISTS `obs`.`mastra_ai_spans_local` ON CLUSTER `prod`" in text
    assert "ENGINE = Distributed('prod', 'obs', 'mastra_ai_spans_local'" in text
    assert "TTL toDateTime(`startedAt`) + toIntervalDay(30) DELETE" in text
    assert "MODIFY TTL" not in text  # a fresh table gets it in its CREATE


def test_pending_render_adds_the_ttl_to_an_existing_table():
    opts = SchemaOptions(database="obs", ttl_days=14)
    after_one = render(opts, after=1)
    assert after_one[-1] == ddl.modify_ttl(opts)
    assert not any(s.startswith("CREATE TABLE IF NOT EXISTS `obs`.`mastra_ai_spans`")
                   for s in after_one)


def test_store_options_reach_the_ddl():
    from mastra_storage.storage.clickhouse import ClickHouseStore

    store = ClickHouseStore(host="h", database="obs", cluster="c", ttl_days=3,
                            zookeeper_path="/ch/{shard}/obs_spans", replica_name="{replica}",
                            codecs=False)
    text = offline_sql(store)
    assert ("ENGINE = ReplicatedReplacingMergeTree('/ch/{shard}/obs_spans', '{replica}', "
            "`updatedAt`)") in text
    assert "TTL toDateTime(`startedAt`) + toIntervalDay(3) DELETE" in text
    assert "CODEC" not in text


def test_applied_result_reads_well():
    from mastra_storage.storage.clickhouse import Applied

    assert Applied([1, 2]) == [1, 2]
    assert str(Applied([2])) == ("applied ClickHouse migrations: "
                                 "2 (skip indexes on the trace and correlation ids)")
    assert str(Applied()) == (
        f"no pending ClickHouse migrations (at version {MIGRATIONS[-1].version})")
