"""Exporters: where span events go (a store, or a collector over HTTPS)."""

from __future__ import annotations

from typing import Any

from .base import Exporter
from .default import DefaultExporter, MastraStorageExporter
from .drops import DropReason


def __getattr__(name: str) -> Any:
    if name in ("CloudExporter", "MastraPlatformExporter"):
        from . import cloud

        return getattr(cloud, name)
    raise AttributeError(name)


__all__ = ["CloudExporter", "DefaultExporter", "DropReason", "Exporter",
           "MastraPlatformExporter", "MastraStorageExporter"]
