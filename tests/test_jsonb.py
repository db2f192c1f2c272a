"""The JSONB decoder agrees with SQLite's own reader on every kind of value.

Blobs are produced by a real SQLite >= 3.45 (the ``sqlean.py`` wheel, a test dependency:
the library itself reads JSONB with the decoder, through the process's own ``sqlite3``).
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from mastra_storage.storage.sql.jsonb import JsonbError, decode, to_text

sqlean = pytest.importorskip("sqlean")


@pytest.fixture(scope="module")
def sqlite() -> Any:
    conn = sqlean.connect(":memory:")
    assert tuple(int(p) for p in sqlean.sqlite_version.split(".")) >= (3, 45)
    return conn


def random_json(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.4:
        return rng.choice([None, True, False, rng.randint(-10**18, 10**18),
                           rng.random() * 10 ** rng.randint(-5, 20), "", 0, -1.5, 1e-7,
                           'héllo "q" \\ \n\t😀 \u0001', "x" * 300])
    if roll < 0.7:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))]
    return {f'k{i}"é': random_json(rng, depth + 1) for i in range(rng.randint(0, 5))}


def test_random_values_decode_as_sqlite_reads_them(sqlite):
    rng = random.Random(7)
    for _ in range(2000):
        text = json.dumps(random_json(rng), ensure_ascii=False)
        blob = sqlite.execute("select jsonb(?)", (text,)).fetchone()[0]
        expected = json.loads(sqlite.execute("select json(?)", (blob,)).fetchone()[0])
        assert decode(blob) == expected, text


@pytest.mark.parametrize(("json5", "expected"), [
    ("{a:1, b:0x1F, c:.5, d:+3, e:'x\\'y'}", {"a": 1, "b": 31, "c": 0.5, "d": 3, "e": "x'y"}),
    ("[1,2,]", [1, 2]),
    ('"\\u00e9\\n"', "é\n"),
])
def test_json5_spellings(sqlite, json5, expected):
    blob = sqlite.execute("select jsonb(?)", (json5,)).fetchone()[0]
    assert decode(blob) == expected


def test_to_text_passes_text_through_and_rejects_garbage(sqlite):
    blob = sqlite.execute("select jsonb(?)", ('{"k":[1,"two"]}',)).fetchone()[0]
    assert to_text(blob) == '{"k":[1,"two"]}'
    assert to_text('{"already":"text"}') == '{"already":"text"}'
    assert to_text(b"\xff\xff") is None
    with pytest.raises(JsonbError):
        decode(b"")


def test_to_text_is_json_an_older_sqlite_parses(sqlite):
    """mastra_json's output feeds the stdlib SQLite's JSON functions (3.40 on Debian 12,
    which rejects JSON5 such as Infinity): infinities come out as 9e999, NaN as null,
    exactly what SQLite's own json() writes."""
    import sqlite3

    blob = sqlite.execute("select jsonb(?)",
                          ('{"a":[Infinity,-Infinity,NaN,1.5],"é":"\\u00fc"}',)).fetchone()[0]
    text = to_text(blob)
    assert text.startswith('{"a":[9e999,-9e999,null,1.5]')
    assert json.loads(text) == json.loads(sqlite.execute("select json(?)", (blob,)).fetchone()[0])
    old = sqlite3.connect(":memory:")
    assert old.execute("select json_extract(?, '$.a[0]'), json_extract(?, '$.a[2]'), "
                       "json_extract(?, '$.é')", (text, text, text)).fetchone() == (
        float("inf"), None, "ü")
    old.close()
