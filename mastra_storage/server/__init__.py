"""Mastra Studio's HTTP API (and the built-in viewer) served from any store.

``create_app(store)`` is an ASGI app (Starlette) to serve or to mount into another ASGI
app; ``mastra-storage studio URL`` serves it with uvicorn. Both need the ``studio``
extra: ``pip install 'mastra-storage[studio]'``.
"""

from __future__ import annotations

from importlib.util import find_spec

from ..errors import MissingDriverError

if find_spec("starlette") is None:
    raise MissingDriverError("studio server", "studio", "starlette")

from .app import LOOPBACK_HOSTS, ServerOptions, create_app

__all__ = ["LOOPBACK_HOSTS", "ServerOptions", "create_app"]
