"""The current span, per thread of control.

A ``ContextVar`` follows asyncio tasks automatically (each task copies the context it was
created in) and stays separate between threads; a thread that should continue a trace
runs under ``contextvars.copy_context()`` or passes ``parent=`` explicitly.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .span import Span

current_span_var: ContextVar[Span | None] = ContextVar("mastra_current_span", default=None)


def current_span() -> Span | None:
    return current_span_var.get()
