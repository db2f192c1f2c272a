"""The ``mastra-storage`` command: each sub-command lives in its own module.

Help is plain text (click's): it never cuts option names in an 80-column terminal and
shows ``[default: …]`` literally. Usage errors are reported like every other error: one
``error:`` line (plus where to find the usage) and exit code 2.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.text import Text
from typer.core import TyperGroup

from . import bench, demo, migrate, reliability, retention, studio, traces
from .render import err_console, quiet_drivers


def _click_exceptions() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(usage-error classes, abort classes) of click and of the click typer vendors."""
    errors: list[type[BaseException]] = []
    aborts: list[type[BaseException]] = []
    for name in ("typer._click.exceptions", "typer.exceptions", "click.exceptions"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for attr, into in (("ClickException", errors), ("Abort", aborts)):
            cls = getattr(module, attr, None)
            if isinstance(cls, type) and issubclass(cls, BaseException):
                into.append(cls)
    return tuple(errors), tuple(aborts)


_USAGE_ERRORS, _ABORTS = _click_exceptions()


class _Group(TyperGroup):
    """Formats click's usage errors as ``error:`` lines, like the commands' own errors."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode,
                                windows_expand_args, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, windows_expand_args,
                              **extra)
        except _ABORTS:
            err_console().print(Text.assemble(("error: ", "bold red"), "interrupted"))
            sys.exit(130)
        except _USAGE_ERRORS as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # no arguments: the help
                exc.show()  # type: ignore[attr-defined]
                sys.exit(exc.exit_code)  # type: ignore[attr-defined]
            out = err_console()
            out.print(Text.assemble(("error: ", "bold red"), exc.format_message()))  # type: ignore[attr-defined]
            ctx = getattr(exc, "ctx", None)
            if ctx is not None:
                out.print(Text.assemble(("hint: ", "bold"),
                                        f"see '{ctx.command_path} --help'"))
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        sys.exit(rv if isinstance(rv, int) else 0)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"mastra-storage {__version__} (Python {sys.version.split()[0]})")
        raise typer.Exit()


app = typer.Typer(cls=_Group, no_args_is_help=True, add_completion=False,
                  rich_markup_mode=None, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="Persist and inspect AI-agent traces (Mastra-compatible).\n\n"
                       "Every URL argument defaults to $MASTRA_STORAGE_URL, else "
                       "sqlite:///./mastra.db.")


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option(
        "--version", "-V", callback=_version, is_eager=True,
        help="Print the version and exit.")] = False,
) -> None:
    ctx.call_on_close(quiet_drivers())


for module in (demo, traces, migrate, retention, studio, bench, reliability):
    module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()

