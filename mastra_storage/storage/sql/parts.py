"""What the parts of :class:`~.store.SQLStore` share: the engine, the dialect, the spans
table and the four signal tables (and whether the database has them).

The store is assembled from small mixins, one job each (``signals``, ``metrics``,
``trace_query``, ``retention``); they all build on this class.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ...model.signals import SIGNAL_TABLES
from .codec import SignalCodec
from .dialects.base import SqlDialect

if TYPE_CHECKING:
    from ...errors import UnsupportedOperation

SIGNAL_NAMES: tuple[str, ...] = tuple(SIGNAL_TABLES)  # logs, metrics, scores, feedback
# Rows per statement when writing or deleting: bounds statement size and lock time.
CHUNK = 1000


class StoreParts:
    engine: sa.Engine
    dialect: SqlDialect
    schema: str | None
    metadata: sa.MetaData
    table: sa.Table  # mastra_ai_spans
    _full_cols: list[sa.ColumnElement[Any]]

    if TYPE_CHECKING:
        def _unsupported(self, what: str) -> UnsupportedOperation: ...

    def _build_signal_tables(self) -> None:
        self.signals: dict[str, SignalCodec] = {
            s: SignalCodec(self.dialect, self.metadata, self.schema, s) for s in SIGNAL_NAMES}
        self._signals_present: bool | None = None
        self._signals_lock = threading.Lock()

    def _check_signal_tables(self) -> bool:
        """Whether the database has the signal tables (migration 0002), looked up once."""
        if self._signals_present is None:
            with self._signals_lock:
                if self._signals_present is None:
                    with self.engine.connect() as conn:
                        insp = sa.inspect(conn)
                        self._signals_present = all(
                            insp.has_table(c.table.name, schema=self.schema)
                            for c in self.signals.values())
                    if self._signals_present:
                        self.dialect.prepare_signal_tables(
                            self.engine, [c.table for c in self.signals.values()])
        return self._signals_present

    def _signal(self, signal: str, what: str | None = None) -> SignalCodec:
        """The codec of ``signal``; a database without the signal tables (migrated before
        they existed, opened without ``auto_migrate``) can't hold or answer signals:
        :class:`~mastra_storage.errors.UnsupportedOperation`, which the exporter counts
        as ``unsupported-storage``."""
        if not self._check_signal_tables():
            raise self._unsupported(what or signal)
        return self.signals[signal]

    def _codecs(self, signals: Sequence[str] = SIGNAL_NAMES) -> list[SignalCodec]:
        return [self._signal(s) for s in signals]


__all__ = ["CHUNK", "SIGNAL_NAMES", "StoreParts"]
