"""Exporters: where span events go (a store, or a collector over HTTPS)."""

from __future__ import annotations

from typing import Any

from .base import Exporter
from .default import DefaultExporter
from .drops import DropReason


def __getattr__(name: str) -> Any:
    if name == "CloudExporter":
        from .cloud import CloudExporter

        return CloudExporter
    raise AttributeError(name)


__all__ = ["CloudExporter", "DefaultExporter", "DropReason", "Exporter"]
