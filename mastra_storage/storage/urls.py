"""``create_store(url)``: one URL picks the backend (the schemes: README.md, *Storage*).

Backends are imported lazily, so the base install never needs a server driver; a missing
driver gives :class:`MissingDriverError` naming the extra to install.

Without a URL, ``create_store()`` (and every ``mastra-storage`` command) uses
``$MASTRA_STORAGE_URL``, else ``sqlite:///./mastra.db``. A PostgreSQL or MSSQL schema is
named the same way everywhere: ``?schema=obs`` in the URL (or ``schema="obs"``, which is
what the CLI's ``--schema`` passes). A PostgreSQL table layout likewise: ``?layout=vnext``
(Mastra's ``PostgresStoreVNext`` tables) is ``layout="vnext"``. A SQLite file is checked
before it is used: a directory, a file that is not a SQLite database, or (when the store
will write) a file or directory that can't be written fails at once with the path and the
fix, instead of every span being dropped later.
"""

from __future__ import annotations

import os
from importlib import import_module
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from ..errors import InvalidStoreURLError, MastraStorageError, MissingDriverError
from .base import ObservabilityStore

ENV_URL = "MASTRA_STORAGE_URL"
DEFAULT_URL = "sqlite:///./mastra.db"
SQLITE_HEADER = b"SQLite format 3\x00"
# Schemes whose stores take a ``schema=`` option (named in the URL as ``?schema=``).
SCHEMA_SCHEMES = ("postgresql", "postgres", "mssql")


class StoreFileError(MastraStorageError, OSError):
    """A SQLite store's file can't be used (missing directory, not a database, read-only).

    The message names the path and the fix.
    """

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(message)


def default_url() -> str:
    """``$MASTRA_STORAGE_URL`` if set (and not blank), else ``sqlite:///./mastra.db``."""
    return (os.environ.get(ENV_URL) or "").strip() or DEFAULT_URL

# scheme -> (module:factory, extra, driver module checked before import, backend label)
_BACKENDS: dict[str, tuple[str, str, str | None, str]] = {
    "sqlite": ("mastra_storage.storage.sql.sqlite:SQLiteStore", "", None, "SQLite"),
    # libSQL's file: URLs open the file through the stdlib sqlite3 too (one SQLite library
    # per process: see storage/sql/sqlite.py): no driver to install.
    "file": ("mastra_storage.storage.sql.sqlite:SQLiteStore", "", None, "libSQL"),
    "libsql": ("mastra_storage.storage.sql.sqlite:SQLiteStore", "", None, "libSQL"),
    "postgresql": ("mastra_storage.storage.sql.postgres:PostgresStore", "postgres", "psycopg",
                   "PostgreSQL"),
    "postgres": ("mastra_storage.storage.sql.postgres:PostgresStore", "postgres", "psycopg",
                 "PostgreSQL"),
    "mssql": ("mastra_storage.storage.sql.mssql:MSSQLStore", "mssql", "pyodbc", "MSSQL"),
    "mongodb": ("mastra_storage.storage.mongodb:MongoDBStore", "mongodb", "pymongo", "MongoDB"),
    "mongodb+srv": ("mastra_storage.storage.mongodb:MongoDBStore", "mongodb", "pymongo",
                    "MongoDB"),
    "clickhouse": ("mastra_storage.storage.clickhouse:ClickHouseStore", "clickhouse",
                   "clickhouse_connect", "ClickHouse"),
    "clickhouses": ("mastra_storage.storage.clickhouse:ClickHouseStore", "clickhouse",
                    "clickhouse_connect", "ClickHouse"),
    "chdb": ("mastra_storage.storage.clickhouse:ClickHouseStore", "clickhouse", "chdb",
             "ClickHouse (chdb)"),
}


def _scheme(url: str) -> str:
    if url == ":memory:":
        return "memory"
    head, sep, _ = url.partition(":")
    if not sep:
        raise InvalidStoreURLError(
            f"not a store URL: {url!r}; expected e.g. sqlite:///./mastra.db, file:./mastra.db, "
            "postgresql://…, mssql+pyodbc://…, mongodb://…, clickhouse://…, chdb:///path")
    scheme = head.lower()
    return scheme.split("+", 1)[0] if scheme.startswith(("mssql", "postgresql")) else scheme


def _load(scheme: str) -> Any:
    target, extra, driver, label = _BACKENDS[scheme]
    if driver is not None:
        try:
            import_module(driver)
        except ImportError:
            raise MissingDriverError(label, extra, driver) from None
    module, attr = target.split(":")
    return getattr(import_module(module), attr)


def sqlite_path(url: str) -> str:
    """``sqlite:///rel.db`` → ``rel.db``, ``sqlite:////abs.db`` → ``/abs.db``,
    ``file:x.db`` → ``x.db``."""
    scheme, _, rest = url.partition(":")
    if scheme.lower() in ("file", "libsql"):
        if scheme.lower() == "libsql" and rest.startswith("//") and rest[2:3] not in ("/", "."):
            # libSQL's clients read libsql://host as a server (Turso, sqld), not a file:
            # writing to a local file of that name would lose the data silently.
            host = urlsplit(url).hostname or rest[2:].split("?", 1)[0]
            raise InvalidStoreURLError(
                f"{url.split('?', 1)[0]!r} names a libSQL server ({host}); this store "
                "writes local SQLite/libSQL files (file:path.db, libsql:///abs/path.db). "
                "Point it and Mastra's LibSQLStore at the same file, or use a server store "
                "(postgresql://, clickhouse://, mongodb://, mssql+pyodbc://)")
        rest = rest[2:] if rest.startswith("//") else rest
        return rest.split("?", 1)[0] or ":memory:"
    if not rest.startswith("//"):
        raise InvalidStoreURLError(f"SQLite URLs look like sqlite:///path/to.db, got {url!r}")
    path = rest[3:] if rest.startswith("///") else rest[2:]
    path = path.split("?", 1)[0]
    return path or ":memory:"


def split_schema(url: str) -> tuple[str, str | None]:
    """``postgresql://h/db?schema=obs&x=1`` → (``postgresql://h/db?x=1``, ``"obs"``).

    Only for PostgreSQL/MSSQL URLs (elsewhere the URL is returned unchanged, None).
    """
    try:
        scheme = _scheme(url.strip())
    except InvalidStoreURLError:
        return url, None
    if scheme not in SCHEMA_SCHEMES:
        return url, None
    parts = urlsplit(url.strip())
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in pairs if k == "schema"]
    if not schemas:
        return url, None
    if len(set(schemas)) > 1 or not schemas[0].strip():
        raise InvalidStoreURLError(
            f"?schema= must name one schema, got {schemas!r} in the URL")
    rest = urlencode([(k, v) for k, v in pairs if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), unquote(schemas[0]).strip()


def split_layout(url: str) -> tuple[str, str | None]:
    """``postgresql://h/db?layout=vnext&x=1`` → (``postgresql://h/db?x=1``, ``"vnext"``).

    Only for PostgreSQL URLs (elsewhere the URL is returned unchanged, None: a ClickHouse
    URL's ``layout`` is that store's own option). The value is lower-cased; the store
    checks it.
    """
    try:
        scheme = _scheme(url.strip())
    except InvalidStoreURLError:
        return url, None
    if scheme not in ("postgresql", "postgres"):
        return url, None
    parts = urlsplit(url.strip())
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    layouts = {v.strip().lower() for k, v in pairs if k == "layout"}
    if not layouts:
        return url, None
    if len(layouts) > 1 or not next(iter(layouts)):
        raise InvalidStoreURLError(f"?layout= must name one layout, got {sorted(layouts)!r}")
    rest = urlencode([(k, v) for k, v in pairs if k != "layout"])
    return urlunsplit(parts._replace(query=rest)), layouts.pop()


def with_schema(url: str, schema: str | None) -> str:
    """The URL naming ``schema`` in its query (for printing a command that repeats it)."""
    if schema is None:
        return url
    base, _ = split_schema(url)
    parts = urlsplit(base)
    query = urlencode([*parse_qsl(parts.query, keep_blank_values=True), ("schema", schema)])
    return urlunsplit(parts._replace(query=query))


def check_sqlite_file(path: str, *, write: bool) -> None:
    """Fail fast, with the path and the fix, on a SQLite file the store can't use.

    Checked: a directory in its place, a file that is not a SQLite database (its first
    16 bytes), and with ``write`` a read-only file, a read-only directory (SQLite writes
    ``-wal``/``-shm`` files next to the database) or a file that can't be created. An
    empty or missing file is fine (SQLite creates the database in it).
    """
    if path in ("", ":memory:") or path.startswith("file::memory:"):
        return
    p = Path(path)
    shown = str(p.absolute())
    if p.is_dir():
        raise StoreFileError(shown, f"the SQLite database path {shown} is a directory: "
                                    "name a file in it, e.g. "
                                    f"sqlite:///{(p / 'mastra.db').as_posix()}")
    if p.exists():
        try:
            with open(p, "rb") as fh:
                head = fh.read(len(SQLITE_HEADER))
        except OSError as exc:
            raise StoreFileError(shown, f"cannot read the SQLite database {shown}: "
                                        f"{exc.strerror or exc}: check its permissions "
                                        f"(ls -l {shown})") from None
        if head and head != SQLITE_HEADER:
            raise StoreFileError(shown, f"{shown} is not a SQLite database (file is not a "
                                        "database: it does not start with SQLite's header): "
                                        "point the URL at a SQLite file, or move this one "
                                        "away and let the store create a new one")
        if not write:
            return
        try:
            with open(p, "r+b"):
                pass
        except OSError as exc:
            raise StoreFileError(shown, f"the SQLite database {shown} is read-only "
                                        f"({exc.strerror or exc}): make it writable "
                                        f"(chmod u+w {shown}) or write to another file; "
                                        "nothing would be stored") from None
        directory = p.parent if str(p.parent) else Path(".")
        if not os.access(directory, os.W_OK | os.X_OK):
            raise StoreFileError(shown, f"the directory {directory} of the SQLite database "
                                        f"{shown} is read-only: SQLite writes {p.name}-wal "
                                        "and -shm next to it; make the directory writable "
                                        "or move the database")
        return
    if not write:
        return
    directory = p.parent if str(p.parent) else Path(".")
    if not directory.is_dir():
        raise StoreFileError(shown, f"cannot create the SQLite database {shown}: the "
                                    f"directory {directory} does not exist (mkdir -p "
                                    f"{directory})")
    try:
        with open(p, "xb"):
            pass  # an empty file is an empty SQLite database
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreFileError(shown, f"cannot create the SQLite database {shown}: "
                                    f"{exc.strerror or exc}: choose a writable location "
                                    "(e.g. sqlite:///./mastra.db)") from None


def create_store(url: str | None = None, *, init: bool = True,
                 **options: Any) -> ObservabilityStore:
    """Build (and by default ``init()``) the store a URL names.

    Without ``url``: ``$MASTRA_STORAGE_URL``, else ``sqlite:///./mastra.db``.
    ``options`` go to the store's constructor (e.g. ``schema=`` for PostgreSQL,
    ``database=`` for MongoDB, ``ttl_days=`` for ClickHouse). A PostgreSQL/MSSQL URL may
    name its schema as ``?schema=obs`` (the same as ``schema="obs"``), a PostgreSQL URL its
    layout as ``?layout=vnext`` (``layout="vnext"``).
    """
    if url is None:
        url = default_url()
    if not isinstance(url, str) or not url.strip():
        raise InvalidStoreURLError(f"store URL must be a non-empty string, got {url!r}")
    url = url.strip()
    scheme = _scheme(url)
    store: Any
    if scheme == "memory":
        from .memory import InMemoryStore

        store = InMemoryStore()
    elif scheme not in _BACKENDS:
        raise InvalidStoreURLError(
            f"unknown store URL scheme '{scheme}' in {url!r}; supported: "
            f"{', '.join(sorted(_BACKENDS))}, :memory:")
    elif scheme in ("sqlite", "file", "libsql"):
        cls = _load(scheme)
        path = sqlite_path(url)
        # Writing needs a writable file; a read-only open (init=False) only a real one.
        check_sqlite_file(path, write=init)
        store = cls(path, driver="sqlite" if scheme == "sqlite" else "libsql", **options)
    else:
        parts = urlsplit(url)
        if scheme not in ("chdb",) and not parts.hostname:
            raise InvalidStoreURLError(f"{scheme} URL needs a host: {url!r}")
        url, schema = split_schema(url)
        if schema is not None:
            if options.get("schema") not in (None, schema):
                raise InvalidStoreURLError(
                    f"the URL names schema {schema!r} but schema={options['schema']!r} "
                    "was passed too: name it once")
            options["schema"] = schema
        url, layout = split_layout(url)
        if layout is not None:
            if options.get("layout") not in (None, layout):
                raise InvalidStoreURLError(
                    f"the URL names layout {layout!r} but layout={options['layout']!r} "
                    "was passed too: name it once")
            options["layout"] = layout
        store = _load(scheme).from_url(url, **options)
    if init:
        store.init()
    return store  # type: ignore[no-any-return]
