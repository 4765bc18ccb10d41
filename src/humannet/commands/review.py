"""`humannet review` (rerun the review stages over a corpus) and `humannet release` (write what a policy lets ship).

Both start from the settings the corpus was built with (its manifest.json), so only what you
change with --set (or a whole --config file) differs: `humannet review corpus/ --set
review.unsafe.threshold=0.4` reruns the unsafe-content review with one threshold changed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from humannet.commands.common import EXIT_USAGE


def corpus_config(corpus: Path, config_path: str | None, overrides: tuple[str, ...]):
    """The corpus's own settings (or --config), then --set overrides; a bad setting exits with a usage error."""
    from humannet.config import Config, ConfigError, _format_validation_error, _parse_override, load_config

    if config_path is not None:
        try:
            return load_config(config_path, list(overrides))
        except ConfigError as exc:
            raise click.UsageError(str(exc)) from exc
    manifest_path = corpus / "manifest.json"
    base: dict[str, Any] = json.loads(manifest_path.read_text()).get("config", {}) if manifest_path.exists() else {}
    if "storage" in base:  # the manifest masks credentials; they are not needed to read a local corpus
        base["storage"].pop("options", None)
    try:
        for text in overrides:
            keys, value = _parse_override(text)
            node = base
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = value
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    from pydantic import ValidationError

    try:
        return Config.model_validate(base)
    except ValidationError as exc:
        raise click.UsageError(_format_validation_error(exc, f"{manifest_path} + --set")) from exc


_config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="TOML configuration (default: the settings in CORPUS/manifest.json).",
)
_set_option = click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="SECTION.KEY=VALUE",
    help="Override one setting, e.g. --set review.unsafe.threshold=0.4.",
)


@click.command()
@click.argument("corpus", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--stage",
    "stages",
    multiple=True,
    type=click.Choice(["unsafe", "pii", "license"]),
    help="Rerun this review stage (repeatable); default: every review stage whose version or settings changed.",
)
@_config_option
@_set_option
def review(corpus: Path, stages: tuple[str, ...], config_path: str | None, overrides: tuple[str, ...]) -> None:
    """Rerun review stages over the clips already in CORPUS and update only their columns.

    Reads the written clips from the shards, recomputes the stage's scores, labels and
    decisions, and rewrites the index and provenance.parquet; shards and every other column
    stay as they are.
    """
    from humannet.review.rerun import ReviewError, rerun_review
    from humannet.stages import review_plan

    config = corpus_config(corpus, config_path, overrides)
    try:
        run = rerun_review(corpus, config, review_plan(config), list(stages) or None)
    except ReviewError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(run.format())


@click.command()
@click.argument("corpus", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--policy",
    required=True,
    help="Release policy name: 'research', 'commercial', or one defined under [review.policies.NAME].",
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Release folder (must not exist or be empty).",
)
@_config_option
@_set_option
def release(corpus: Path, policy: str, out_dir: Path, config_path: str | None, overrides: tuple[str, ...]) -> None:
    """Write the part of CORPUS that POLICY lets ship: index, shards, references, manifest, ATTRIBUTION.md and a summary.

    Every clip gets a decision (release, reference, withhold) with its reason in
    release_manifest.parquet; what was withheld and why is printed and written to SUMMARY.md.
    """
    from humannet.review.release import ReleaseError, write_release

    config = corpus_config(corpus, config_path, overrides)
    try:
        report = write_release(corpus, out_dir, config, policy)
    except ReleaseError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(report.text)
    click.echo(f"written to {out_dir}")
