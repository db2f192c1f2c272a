"""W3C-sized identifiers: 32 hex chars for traces, 16 for spans.

``random.getrandbits`` is several times cheaper than ``os.urandom`` on the hot path, and
CPython reseeds the ``random`` module in a forked child, so children never repeat ids.
"""

from __future__ import annotations

import random

_bits = random.getrandbits


def new_trace_id() -> str:
    return f"{_bits(128) or 1:032x}"


def new_span_id() -> str:
    return f"{_bits(64) or 1:016x}"
