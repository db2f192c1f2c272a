"""Span output processors: transform each span snapshot before it is exported."""

from .base import SpanOutputProcessor
from .sensitive_data import SensitiveDataFilter

__all__ = ["SensitiveDataFilter", "SpanOutputProcessor"]
