"""The one `edgesight` command. Each area registers its subcommands explicitly below.

Heavy imports (onnxruntime, openvino, torch) happen inside the commands, so `edgesight --help`
stays fast on a small device.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from edgesight import __version__
from edgesight.errors import EdgesightError

app = typer.Typer(
    name="edgesight",
    help="Computer vision at the edge: run detectors on cameras, fit models to silicon, ship only what matters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"edgesight {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """edgesight command line."""


# Explicit registry, in the order `edgesight --help` lists them: each module has `register(app)`.
# No discovery and no swallowed ImportErrors: a broken module fails loudly here.
COMMAND_MODULES = (
    "edgesight.demo.command",  # demo
    "edgesight.pipeline.commands",  # run
    "edgesight.inference.commands",  # detect
    "edgesight.store.commands",  # events
    "edgesight.config_commands",  # config
    "edgesight.profile.commands",  # profile, recommend
    "edgesight.optimize.commands",  # optimize
    "edgesight.export.commands",  # export
    "edgesight.evaluation.commands",  # eval
    "edgesight.benchmark.commands",  # bench
    "edgesight.uplink.commands",  # outbox, broker
)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_all()


def main(argv: list[str] | None = None) -> None:
    """Entry point: expected failures become one red line and exit code 2."""
    err = Console(stderr=True)
    try:
        app(args=argv, standalone_mode=False)
    except EdgesightError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in standalone_mode=False
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
