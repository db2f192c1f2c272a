"""Splitting a column-form INSERT so no statement exceeds a row or byte bound.

ClickHouse takes a batch as one INSERT; a batch of large payloads can exceed what a
server (or chdb) accepts in one request, so spans, v-next span events and signal rows are
all cut by the same rule: at most ``max_rows`` rows and ``max_bytes`` of text per
statement, a single row over the byte bound going alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def row_slices(text_columns: Sequence[Sequence[Any]], n: int, max_rows: int,
               max_bytes: int) -> list[tuple[int, int]]:
    """``[start, end)`` row ranges covering ``n`` rows (see the module docstring);
    ``text_columns`` are the columns whose values count towards the bytes."""
    if sum(sum(map(len, filter(None, c))) for c in text_columns) <= max_bytes:
        return [(i, min(n, i + max_rows)) for i in range(0, n, max_rows)]
    sizes = [sum(len(v) for v in row if v) for row in zip(*text_columns, strict=True)]
    out, start = [], 0
    while start < n:
        end, size = start, 0
        while end < n and end - start < max_rows:
            if end > start and size + sizes[end] > max_bytes:
                break
            size += sizes[end]
            end += 1
        out.append((start, end))
        start = end
    return out
