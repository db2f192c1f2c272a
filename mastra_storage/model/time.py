"""Timestamps as every layer and every backend keep them: UTC, millisecond precision.

One formatter (:func:`format_iso`) and one parser (:func:`parse_iso`) for the whole
library: text stores, the collector payload, the CLI and the HTTP server all write the
same ``2026-11-22T02:09:00.093Z``.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

UTC = timezone.utc
_from_ts = datetime.fromtimestamp
_time_ns = time.time_ns
_ZERO = timedelta(0)


def utc_now() -> datetime:
    """Now, in UTC, truncated to the millisecond precision every backend stores.

    Built from integer milliseconds: ``datetime.replace`` would cost three times more,
    and this runs twice per span on the app's thread. (A float of ms/1000 is within a
    microsecond of the exact value, and fromtimestamp rounds to the microsecond.)
    """
    return _from_ts((_time_ns() // 1_000_000) / 1000, UTC)


def truncate_ms(value: datetime) -> datetime:
    """``value`` in UTC (naive means UTC) with the sub-millisecond part dropped."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.tzinfo is not UTC and value.utcoffset() != _ZERO:
        value = value.astimezone(UTC)
    elif value.tzinfo is not UTC:
        value = value.replace(tzinfo=UTC)
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


def format_iso(value: datetime) -> str:
    """``2026-11-22T02:09:00.093Z``: Mastra's text timestamp format."""
    if value.tzinfo is not UTC:
        value = truncate_ms(value)
    # isoformat with a UTC tzinfo ends in "+00:00"; four of these run per stored row.
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_iso(value: str | datetime) -> datetime:
    """Read a timestamp written by us or by Mastra (``Z`` or offset, any precision)."""
    if isinstance(value, datetime):
        return truncate_ms(value)
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if " " in text and "T" not in text:
        text = text.replace(" ", "T", 1)
    return truncate_ms(datetime.fromisoformat(text))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def to_epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch (naive means UTC), truncated; exact (no float)."""
    return (truncate_ms(value) - _EPOCH) // _ONE_MS


def from_epoch_ms(ms: int) -> datetime:
    """The UTC datetime ``ms`` milliseconds after the epoch."""
    return _EPOCH + ms * _ONE_MS


__all__ = ["UTC", "format_iso", "from_epoch_ms", "parse_iso", "to_epoch_ms", "truncate_ms",
           "utc_now"]
