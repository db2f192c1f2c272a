"""Process lifecycle hooks for exporters and stores: fork and interpreter exit.

Hooks are held through weak references, so registering never keeps an object alive: a
closed, dropped store or exporter is collected, and its hooks become no-ops.
"""

from __future__ import annotations

import atexit
import os
import weakref
from collections.abc import Callable
from typing import Any


def _weak_call(obj: Any, method: str) -> Callable[[], None]:
    ref = weakref.ref(obj)

    def call() -> None:
        target = ref()
        if target is not None:
            getattr(target, method)()

    return call


def after_fork_in_child(obj: Any, method: str = "_after_fork_in_child") -> None:
    """Call ``obj.<method>()`` in every child forked after this call (while ``obj`` lives)."""
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_weak_call(obj, method))


def at_exit(obj: Any, method: str = "_at_exit") -> None:
    """Call ``obj.<method>()`` at interpreter exit (while ``obj`` lives)."""
    atexit.register(_weak_call(obj, method))


__all__ = ["after_fork_in_child", "at_exit"]
