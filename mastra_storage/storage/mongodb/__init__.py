"""MongoDB backend (``mongodb://`` / ``mongodb+srv://``); needs the ``mongodb`` extra."""

from __future__ import annotations

from .codec import CodecStats, SpanCodec
from .store import DuplicateSpansError, MongoDBStore

__all__ = ["CodecStats", "DuplicateSpansError", "MongoDBStore", "SpanCodec"]
