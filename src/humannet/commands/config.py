"""`humannet config show`: the effective settings, every key with its default and help."""

from __future__ import annotations

import click

from humannet.commands.common import config_option, set_option
from humannet.config import load_config, render_config


@click.group()
def config() -> None:
    """Inspect the configuration."""


@config.command("show")
@config_option()
@set_option()
def config_show(config_path: str | None, overrides: tuple[str, ...]) -> None:
    """Print the effective configuration: every key with its value, default and help, as TOML."""
    click.echo(render_config(load_config(config_path, overrides)), nl=False)
