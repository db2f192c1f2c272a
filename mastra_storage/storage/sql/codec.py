"""One signal table of a SQL store: its SQLAlchemy table and the record ⇄ row codec.

The columns are the model's (:data:`~mastra_storage.model.signals.SIGNAL_TABLES`); their
types, and how each kind of value is written and read back, come from the dialect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from operator import attrgetter
from typing import Any

import sqlalchemy as sa

from ...model.signals import SIGNAL_TABLES, SignalContext, SignalTable
from ...model.time import truncate_ms
from .columnar import NULL_COLUMN, Column, clean_columns, map_values, transpose
from .dialects.base import CURSOR, SIGNAL_DEFAULTS, SqlDialect


class SignalCodec:
    """Table, select list and row codec of one signal (``logs``, ``metrics``, …)."""

    def __init__(self, dialect: SqlDialect, metadata: sa.MetaData, schema: str | None,
                 signal: str) -> None:
        spec: SignalTable = SIGNAL_TABLES[signal]
        self.signal = signal
        self.spec = spec
        self.dialect = dialect
        self.table = dialect.build_signal_table(metadata, schema, spec.table, spec.columns)
        self.columns = spec.columns
        self.names: tuple[str, ...] = tuple(c.name for c in spec.columns)
        self.id_name = spec.columns[0].name
        self.id_attr = spec.id_attr
        self.attr_to_name = {c.attr: c.name for c in spec.columns}
        self._get = attrgetter(*(c.attr for c in spec.columns))
        self.order = self.table.c[CURSOR]
        read: list[sa.ColumnElement[Any]] = []
        for c in spec.columns:
            col = self.table.c[c.name]
            read.append(dialect.read_json(col) if c.kind in ("json", "tags") else col)
        self.select_columns = read

    def col(self, attr: str) -> sa.ColumnElement[Any]:
        """The column of record attribute ``attr``."""
        return self.table.c[self.attr_to_name[attr]]

    def encode(self, record: SignalContext) -> list[Any]:
        """The row's values in :attr:`names` order."""
        d = self.dialect
        table = self.spec.table
        values = list(self._get(record))
        for i, c in enumerate(self.columns):
            v = values[i]
            kind = c.kind
            if kind == "text":
                if isinstance(v, str):
                    values[i] = d.encode_signal_text(table, c.name, v)
            elif kind == "timestamp":
                values[i] = d.encode_signal_timestamp(v) if v is not None else None
            elif kind == "float":
                values[i] = float(v) if v is not None else None
            elif kind == "json":
                if v is None and not c.nullable:
                    v = SIGNAL_DEFAULTS.get(c.name, {})
                values[i] = d.encode_json(v) if v is not None else None
            else:  # tags
                values[i] = d.encode_tags(v)
        return values

    def encode_columns(self, records: Sequence[SignalContext]) -> list[Column]:
        """The batch column by column in :attr:`names` order: the values of
        :meth:`encode`, with :data:`~.columnar.NULL_COLUMN` for a column NULL in every
        row (see :mod:`.columnar`)."""
        d = self.dialect
        table = self.spec.table
        n = len(records)
        cols: list[Any] = transpose(map(self._get, records), len(self.columns))
        out: list[Column] = [NULL_COLUMN] * len(cols)
        texts = []
        for i, c in enumerate(self.columns):
            col = cols[i]
            kind = c.kind
            if kind == "tags":  # NOT NULL: an empty list where there is none
                out[i] = [d.encode_tags(v) for v in col]
                continue
            nulls = col.count(None)
            if kind == "json" and not c.nullable:
                default = SIGNAL_DEFAULTS.get(c.name, {})
                out[i] = [d.encode_json(default if v is None else v) for v in col]
            elif nulls == n:
                continue
            elif kind == "text":
                texts.append(i)
            elif kind == "timestamp":
                out[i] = map_values(col, d.encode_signal_timestamp)
            elif kind == "float":
                out[i] = map_values(col, float)
            else:  # json
                out[i] = map_values(col, d.encode_json)
        if d.plain_signal_text and clean_columns([cols[i] for i in texts]):
            for i in texts:
                out[i] = cols[i]
        else:
            for i in texts:
                name = self.columns[i].name
                out[i] = [d.encode_signal_text(table, name, v) if isinstance(v, str) else v
                          for v in cols[i]]
        return out

    def decode(self, row: Mapping[str, Any]) -> Any:
        d = self.dialect
        values: dict[str, Any] = {}
        for c in self.columns:
            v = row[c.name]
            kind = c.kind
            if kind == "timestamp":
                v = d.decode_signal_timestamp(v)
            elif kind == "json":
                v = d.decode_json(v) if v is not None else None
            elif kind == "tags":
                v = d.decode_tags(v)
            elif kind == "float" and v is not None:
                v = float(v)
            values[c.attr] = v
        return self.spec.record(**values)

    def timestamps(self, records: Any) -> list[Any]:
        return [truncate_ms(r.timestamp) for r in records]


__all__ = ["SignalCodec"]
