"""`humannet review` (rerun the review stages over a corpus), `humannet recaption` (caption again the clips whose
VLM caption failed) and `humannet release` (write what a policy lets ship).

All three start from the settings the corpus was built with (its manifest.json), so only what you
change with --set (or a whole --config file) differs: `humannet review corpus/ --set
review.unsafe.threshold=0.4` reruns the unsafe-content review with one threshold changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from humannet.commands.common import config_option, set_option
from humannet.corpus.lock import CorpusLock

if TYPE_CHECKING:
    from humannet.config import Config


def corpus_config(corpus: Path, config_path: str | None, overrides: tuple[str, ...]) -> Config:
    """The corpus's own settings (or --config), then --set overrides."""
    from humannet.config import load_config

    if config_path is not None:
        return load_config(config_path, overrides)
    manifest_path = corpus / "manifest.json"
    base: dict[str, Any] = json.loads(manifest_path.read_text()).get("config", {}) if manifest_path.exists() else {}
    if "storage" in base:  # the manifest masks credentials; they are not needed to read a local corpus
        base["storage"].pop("options", None)
    return load_config(None, overrides, base=base, origin=f"{manifest_path} + --set")


_config_option = config_option("TOML configuration (default: the settings in CORPUS/manifest.json).")
_set_option = set_option("Override one setting, e.g. --set review.unsafe.threshold=0.4.")


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
    from humannet.review.rerun import rerun_review
    from humannet.stages import review_plan

    config = corpus_config(corpus, config_path, overrides)
    with CorpusLock(str(corpus), "review", config.run.lock_lease_s):
        click.echo(rerun_review(corpus, config, review_plan(config), list(stages) or None).format())


@click.command()
@click.argument("corpus", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_config_option
@set_option("Override one setting, e.g. --set captions.openai.base_url=http://localhost:8000/v1.")
def recaption(corpus: Path, config_path: str | None, overrides: tuple[str, ...]) -> None:
    """Caption again, with the configured VLM, only the clips of CORPUS whose VLM caption failed.

    Those clips kept the template caption, marked caption_backend = 'template (vlm failed)'. Their
    caption columns, their JSON in the shards and the caption trees are rewritten; every other clip
    stays as it is. A clip that fails again stays marked: run the command again later.
    """
    from humannet.review.recaption import recaption as recaption_clips
    from humannet.stages import analysis_fingerprint, producers

    config = corpus_config(corpus, config_path, overrides)
    with CorpusLock(str(corpus), "recaption", config.run.lock_lease_s):
        click.echo(recaption_clips(corpus, config, analysis_fingerprint(config), producers(config)).format())


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
    """Write the part of CORPUS that POLICY lets ship: index, shards, references, manifest, ATTRIBUTION.md and a
    summary.

    Every clip gets a decision (release, reference, withhold) with its reason in
    release_manifest.parquet; what was withheld and why is printed and written to SUMMARY.md.
    """
    from humannet.review.release import write_release

    report = write_release(corpus, out_dir, corpus_config(corpus, config_path, overrides), policy)
    click.echo(report.text)
    click.echo(f"written to {out_dir}")
