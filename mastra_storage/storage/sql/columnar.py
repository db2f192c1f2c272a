"""Write batches encoded column by column, with the all-NULL columns set apart.

The writer thread is what limits an exporter's throughput, and most of its Python time
went into doing the same small thing once per value: a hook call per text value to look
for NUL, a ``None`` check per empty column, a ``None`` bound per empty parameter. A batch
is turned here into one sequence per column instead of one per row, so that:

* every text value of the batch is checked for NUL and lone surrogates in one C-level
  scan (:func:`clean_columns`); only when one is found does each value go through the
  dialect's text hook;
* a column holding NULL in every row of the batch (:data:`NULL_COLUMN`, i.e. ``None``
  in place of its sequence) costs nothing: SQLite writes it as a literal ``NULL`` in the
  statement (one cached statement per pattern of such columns) instead of binding a
  ``None`` per row, PostgreSQL's COPY writes ``\\N``. On the benchmark's rows 24 of the
  42 span columns are NULL in every row;
* a value every row shares (``createdAt``/``updatedAt`` = the batch's time) is encoded
  once.

The encoded values are exactly those of the row-by-row codecs
(:meth:`~.dialects.base.SqlDialect.encode_values`, :meth:`~.codec.SignalCodec.encode`);
``tests/test_columnar.py`` holds the two against each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, repeat
from typing import Any

from ...model.jsonsafe import BAD_CHARS

# A column's place in an encoded batch when it is NULL in every row.
NULL_COLUMN = None
Column = Sequence[Any] | None


def transpose(rows: Iterable[Sequence[Any]], width: int) -> list[tuple[Any, ...]]:
    """``width`` column tuples from an iterable of rows (all C-level: ``zip(*rows)``)."""
    columns = list(zip(*rows, strict=True))
    return columns if columns else [() for _ in range(width)]


def clean_columns(columns: Iterable[Sequence[Any]]) -> bool:
    """True when every value of ``columns`` is text (or None/empty) with no NUL and no lone
    surrogate, i.e. when the text hooks would return each value unchanged.

    One join and one scan for the whole batch: ``str.isascii`` is O(1) in CPython, and an
    ASCII text can hold no surrogate, so the common case is a single ``in`` test. A
    value that is not text makes the join fail: then the caller takes the per-value path,
    which treats it exactly as before.
    """
    try:
        blob = "".join(filter(None, chain.from_iterable(columns)))
    except TypeError:
        return False
    if blob.isascii():
        return "\x00" not in blob
    return BAD_CHARS.search(blob) is None


def map_values(column: Sequence[Any], encode: Callable[[Any], Any]) -> list[Any]:
    """``encode`` applied to every non-None value of ``column``; None stays None."""
    return [None if v is None else encode(v) for v in column]


def null_pattern(columns: Sequence[Column]) -> frozenset[int]:
    """The positions of the columns that are NULL in every row."""
    return frozenset(i for i, c in enumerate(columns) if c is NULL_COLUMN)


def live_rows(columns: Sequence[Column]) -> list[tuple[Any, ...]]:
    """Rows of the columns that hold a value somewhere (the parameters left to bind)."""
    return list(zip(*[c for c in columns if c is not NULL_COLUMN], strict=True))


def full_rows(columns: Sequence[Column], size: int) -> list[tuple[Any, ...]]:
    """Rows of every column, None where a column is NULL in every row (for COPY)."""
    return list(zip(*[repeat(None, size) if c is NULL_COLUMN else c for c in columns],
                    strict=True))


class Replayable:
    """The rows of ``parts`` (lists of rows, each made when the iteration reaches it), kept
    as they are made: a later iteration yields every row again, making the parts the
    earlier one didn't reach. So a batch can be encoded a slice at a time while it is
    being sent, and sent again (e.g. after a failed attempt) without encoding it twice."""

    def __init__(self, parts: Iterator[Sequence[Sequence[Any]]]) -> None:
        self._parts = parts
        self._made: list[Sequence[Sequence[Any]]] = []

    def __iter__(self) -> Iterator[Sequence[Any]]:
        made = self._made
        i = 0
        while True:
            if i == len(made):
                part = next(self._parts, None)
                if part is None:
                    return
                made.append(part)
            yield from made[i]
            i += 1


__all__ = ["NULL_COLUMN", "Column", "Replayable", "clean_columns", "full_rows", "live_rows",
           "map_values", "null_pattern", "transpose"]
