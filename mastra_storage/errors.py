"""Exceptions that are part of the public contract."""

from __future__ import annotations

from collections.abc import Iterable


class MastraStorageError(Exception):
    """Base class for every error this library raises on purpose."""


class UnsupportedStrategyError(MastraStorageError):
    """A tracing strategy the bound storage provider cannot honour.

    Raised when the exporter is bound, never later: nothing is silently changed to a
    strategy the user did not ask for.
    """

    def __init__(self, strategy: str, provider: str, supported: Iterable[str]) -> None:
        self.strategy = strategy
        self.provider = provider
        self.supported = tuple(supported)
        super().__init__(
            f"tracing strategy '{strategy}' is not supported by the '{provider}' storage "
            f"provider; supported: {', '.join(self.supported)}"
        )


class MissingDriverError(MastraStorageError, ImportError):
    """A backend was asked for whose driver extra is not installed."""

    def __init__(self, backend: str, extra: str, module: str) -> None:
        self.backend = backend
        self.extra = extra
        super().__init__(
            f"the {backend} backend needs the '{module}' driver: "
            f"pip install 'mastra-storage[{extra}]'"
        )


class InvalidStoreURLError(MastraStorageError, ValueError):
    """A store URL that `create_store` cannot interpret."""


class StorageDomainDisabledError(MastraStorageError):
    """The observability domain of a composite store is routed to nothing."""


class UnsupportedOperation(MastraStorageError, NotImplementedError):
    """A store that cannot answer (or hold) something: a signal, a read, a feature.

    The exporter drops what such a store can't hold once, counted as
    ``unsupported-storage``, and stops asking; the HTTP server answers 501.
    """

    def __init__(self, store: str, what: str) -> None:
        self.store = store
        self.what = what
        super().__init__(f"This storage provider ({store}) does not support {what}")
