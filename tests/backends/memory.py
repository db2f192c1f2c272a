from __future__ import annotations

from pathlib import Path

from mastra_storage.storage import InMemoryStore

from . import Provider


def start(workdir: Path) -> Provider:
    return Provider("memory", ":memory:", InMemoryStore)
