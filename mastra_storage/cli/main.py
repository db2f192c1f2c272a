"""The ``mastra-storage`` command: each sub-command lives in its own module."""

from __future__ import annotations

import typer

from . import bench, demo, migrate, studio, traces

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Persist and inspect AI-agent traces (Mastra-compatible).")
for module in (demo, migrate, traces, studio, bench):
    module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
