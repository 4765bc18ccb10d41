"""`humannet preview`: look at a retargeted clip next to its video."""

from __future__ import annotations

from pathlib import Path

import click

from humannet import HumannetError


@click.command()
@click.argument("clip_id")
@click.option(
    "--corpus",
    "corpus",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Corpus folder holding the clip.",
)
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output: .mp4 (every keypoint frame) or .png/.jpg (stills).",
)
@click.option(
    "--stills", default=4, show_default=True, type=click.IntRange(1, 32), help="Frames stacked in a .png/.jpg preview."
)
def preview(clip_id: str, corpus: Path, out: Path, stills: int) -> None:
    """Side-by-side preview of CLIP_ID: the video with its keypoints, and the humanoid posed from the retargeted
    joints."""
    from humannet.annotate.retarget_preview import read_clip, write_preview

    try:
        clip = read_clip(corpus, clip_id)
        frames = write_preview(clip, out, stills=stills)
    except (ValueError, OSError) as exc:  # a clip not in the index or not materialised, an unreadable shard
        raise HumannetError(str(exc)) from exc
    note = "" if clip.retarget is not None else " (no retarget.npz in the shard: humanoid panel left empty)"
    click.echo(f"wrote {out} ({frames} frames){note}")
