"""`edgesight config check|schema`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from edgesight.config import PipelineConfig, load_config


def register(app: typer.Typer) -> None:
    config_app = typer.Typer(
        help="Validate pipeline files and print their JSON schema.", no_args_is_help=True
    )

    @config_app.command("check")
    def check(file: Path = typer.Argument(..., help="Pipeline YAML file.")) -> None:
        """Validate FILE; print each problem with the path of the bad key."""
        cfg = load_config(file)
        Console().print(
            f"[green]ok[/] {file}: {len(cfg.sources)} source(s), model {cfg.model.path.name}, "
            f"{len(cfg.rules)} rule(s)",
            highlight=False,
        )

    @config_app.command("schema")
    def schema() -> None:
        """Print the pipeline JSON schema (for editors and validators)."""
        print(json.dumps(PipelineConfig.model_json_schema(), indent=2))

    app.add_typer(config_app, name="config")
