"""Process lifecycle hooks for exporters and stores: fork, interpreter exit, termination.

Hooks are held through weak references, so registering never keeps an object alive: a
closed, dropped store or exporter is collected, and its hooks become no-ops.

A forked child does not run ``atexit`` when it ends the way ``multiprocessing`` ends its
fork children (``os._exit`` after the task): what it buffered would be lost without a
word. So in a forked child, :func:`at_child_exit` registers the flush with
``multiprocessing``'s own exit hook (run before ``os._exit``), and, when the child's
SIGTERM is the default action (``Pool.terminate()``, ``Process.terminate()``), installs a
handler that flushes for at most :data:`TERMINATE_FLUSH_SECONDS`, logs what could not be
delivered, and then lets SIGTERM end the process as it would have.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("mastra_storage")

TERMINATE_FLUSH_SECONDS = 2.0


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


_terminate_targets: list[weakref.ref[Any]] = []
_terminate_pid: int | None = None


def at_child_exit(obj: Any, method: str = "_at_exit",
                  terminate: str = "_on_terminate") -> None:
    """In a forked child: call ``obj.<method>()`` when the child ends through
    ``multiprocessing``, and ``obj.<terminate>(seconds)`` on SIGTERM (see the module
    docstring). Call it from an after-fork hook."""
    if "multiprocessing" in sys.modules:
        from multiprocessing import util

        # A multiprocessing child clears the finalizer registry when it starts, then runs
        # its "after fork" callbacks: register the exit flush from one of those.
        flush = _weak_call(obj, method)
        util.register_after_fork(obj, lambda _obj: util.Finalize(None, flush, exitpriority=100))
    global _terminate_pid
    if _terminate_pid != os.getpid():  # a new child: the parent's targets are not ours
        _terminate_targets.clear()
        _terminate_pid = os.getpid()
    _terminate_targets.append(weakref.ref(obj))
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):  # no signals here (e.g. a sub-interpreter)
        pass


def _on_sigterm(signum: int, frame: Any) -> None:
    for ref in list(_terminate_targets):
        target = ref()
        if target is None:
            continue
        try:
            target._on_terminate(TERMINATE_FLUSH_SECONDS)
        except Exception:  # dying anyway: report and go on with the others
            logger.exception("flushing at SIGTERM failed")
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


__all__ = ["after_fork_in_child", "at_child_exit", "at_exit"]
