"""Process lifecycle hooks shared by the exporters: fork and interpreter exit.

Held through weak references, so registering never keeps an exporter alive.
"""

from __future__ import annotations

import atexit
import os
import weakref
from typing import Protocol


class _Lifecycle(Protocol):
    exit_timeout: float | None

    def _after_fork_in_child(self) -> None: ...

    def shutdown(self, timeout: float | None = None) -> None: ...


def register_fork_and_exit(exporter: _Lifecycle) -> None:
    """Reset ``exporter`` in a forked child; shut it down (flushing) at interpreter exit."""
    ref = weakref.ref(exporter)

    def in_child() -> None:
        obj = ref()
        if obj is not None:
            obj._after_fork_in_child()

    def at_exit() -> None:
        obj = ref()
        if obj is not None:
            obj.shutdown(obj.exit_timeout)

    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=in_child)
    atexit.register(at_exit)
