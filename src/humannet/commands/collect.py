"""`humannet collect ...` and `humannet pool ...`: find videos, keep them in the URL pool, download them.

Heavy modules (yt-dlp, sentence-transformers) are imported inside the commands so the CLI starts fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from humannet import UsageError
from humannet.commands.common import config_option, set_option

pool_option = click.option(
    "--pool", "pool_path", default=None, help="URL pool database (default: collect.pool_path, collection/pool.sqlite)."
)
from_json_option = click.option(
    "--from-json",
    "from_json",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Answer from a recording of yt-dlp output (JSON Lines of `yt-dlp -J` dicts) instead of the network.",
)
record_option = click.option(
    "--record",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Append every yt-dlp answer to this recording (replay it with --from-json).",
)
collect_config_option = config_option("TOML configuration file (see `humannet config show`, section [collect]).")
collect_set_option = set_option("Override one setting, e.g. --set collect.max_duration_s=600 (repeatable).")


def _config(config_path: str | None, overrides: tuple[str, ...]):
    from humannet.config import load_config

    return load_config(config_path, overrides).collect


def _options(function):
    return collect_config_option(collect_set_option(function))


def _console():
    from rich.console import Console

    return Console(stderr=True)


def _summary(title: str, rows: list[tuple[str, str]], failures: list[tuple[str, str]] = ()) -> None:
    from rich.table import Table

    console = _console()
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)
    for where, why in failures:
        console.print(f"[red]failed[/red] {where}: {why}")


@click.group()
def collect() -> None:
    """Find videos of people doing things and fetch them: keywords, search, channels, dataset
    manifests and folders go into a URL pool; `collect download` fetches the pool with metadata
    sidecars; `humannet curate POOL_OR_FOLDER` turns them into a corpus (docs/collection.md)."""


@collect.group()
def keywords() -> None:
    """The keyword repository of human activities (src/humannet/assets/keywords.yaml)."""


@keywords.command("expand")
@click.option(
    "--keywords",
    "keywords_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Keyword repository YAML.",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Queries file (default: collect.queries_path).",
)
@click.option("--group", "groups", multiple=True, help="Only these keyword groups (repeatable), e.g. --group cooking.")
@click.option("--no-embeddings", is_flag=True, help="Skip MiniLM synonym and object expansion (faster).")
@_options
def keywords_expand(
    keywords_path: Path | None,
    out_path: Path | None,
    groups: tuple[str, ...],
    no_embeddings: bool,
    config_path: str | None,
    overrides: tuple[str, ...],
) -> None:
    """Expand the seed keywords into search queries (JSON Lines: query, labels, provenance)."""
    from collections import Counter

    from humannet.captions.chat import ChatClient
    from humannet.collect.expand import Expander, minilm_embedder
    from humannet.collect.keywords import load_repository

    config = _config(config_path, overrides)
    repository = load_repository(keywords_path or (Path(config.keywords_path) if config.keywords_path else None))
    chat = (
        ChatClient(config.llm_endpoint, config.llm_timeout_s, config.llm_api_key_env) if config.llm_endpoint else None
    )
    seeds = [k for k in repository.keywords if not groups or k.group in groups]
    if not seeds:
        raise UsageError(
            f"no keywords in groups {', '.join(groups)} (groups: "
            f"{', '.join(sorted({k.group for k in repository.keywords}))})"
        )
    embed = None if no_embeddings or config.neighbours_per_seed == 0 else minilm_embedder()
    expander = Expander(repository, config, embed=embed, chat=chat)
    from humannet.engine.progress import make_progress

    with make_progress(_console()) as progress:
        task = progress.add_task(
            "LLM expansion" if chat else "expanding", total=len(seeds) if chat else None, detail=""
        )
        queries = expander.expand(seeds, progress=lambda n: progress.update(task, completed=n))
    target = out_path or Path(config.queries_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text("".join(json.dumps(q.to_json(), ensure_ascii=False) + "\n" for q in queries))
    temporary.replace(target)
    methods = Counter(p["method"] for q in queries for p in q.provenance)
    _summary(
        f"humannet collect keywords expand: {target}",
        [
            ("seed keywords", f"{len(seeds)} in {len({k.group for k in seeds})} group(s)"),
            ("queries (deduplicated)", str(len(queries))),
            ("by method", ", ".join(f"{m} {n}" for m, n in methods.most_common())),
            ("LLM failures", str(len(expander.errors))),
        ],
        expander.errors,
    )


def _extractor(config: Any, from_json: Path | None, record: Path | None, playlist_end: int | None):
    from humannet.collect.extractor import RecordedExtractor, YtDlpExtractor

    if from_json is not None:
        return RecordedExtractor(from_json)
    if record is not None:
        record.parent.mkdir(parents=True, exist_ok=True)
    return YtDlpExtractor(config.socket_timeout_s, playlist_end, record, config.allow_private_hosts)


def _discover(config: Any, pool_path: str | None, listings: list, extractor: Any, title: str) -> None:
    from humannet.collect.discover import Discovery, DiscoverySummary
    from humannet.collect.pool import Pool
    from humannet.engine.progress import make_progress

    summary = DiscoverySummary()
    path = Path(pool_path or config.pool_path)
    with Pool(path) as pool, make_progress(_console()) as progress:
        discovery = Discovery(pool, extractor, config)
        listing_task = progress.add_task("listings", total=len(listings), detail="")
        discovery.crawl(
            listings,
            summary,
            advance=lambda: progress.update(listing_task, advance=1, detail=f"{summary.entries} entries"),
        )
        pending = discovery.pending()
        detail_task = progress.add_task("metadata", total=len(pending), detail="")
        for video_id in pending:
            discovery.resolve(video_id, summary)
            progress.update(detail_task, advance=1, detail=f"{summary.queued} queued")
    _summary(f"{title}: {path}", summary.lines(), summary.listing_errors + summary.failed)


@collect.command("search")
@click.argument("queries", nargs=-1)
@click.option(
    "--queries",
    "queries_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Queries file (default: collect.queries_path).",
)
@click.option(
    "--max-per-query",
    type=click.IntRange(min=1),
    default=None,
    help="Results per query (default: collect.max_per_query).",
)
@click.option("--prefix", default=None, help="yt-dlp search prefix (default: collect.search_prefix, 'ytsearch').")
@click.option("--limit", "query_limit", type=click.IntRange(min=1), default=None, help="Only the first N queries.")
@pool_option
@from_json_option
@record_option
@_options
def search(
    queries: tuple[str, ...],
    queries_path: Path | None,
    max_per_query: int | None,
    prefix: str | None,
    query_limit: int | None,
    pool_path: str | None,
    from_json: Path | None,
    record: Path | None,
    config_path: str | None,
    overrides: tuple[str, ...],
) -> None:
    """Search a platform for QUERIES (or every query in the queries file) and add the results,
    filtered, to the pool. Candidates that pass get their full metadata and are queued."""
    from humannet.collect.listings import QueryFileError, read_queries, search_listings

    config = _config(config_path, overrides)
    texts = list(queries)
    if not texts:
        try:
            texts = read_queries(queries_path or Path(config.queries_path))
        except QueryFileError as exc:
            raise UsageError(f"{exc} (run `humannet collect keywords expand` first, or give QUERIES)") from exc
    texts = texts[:query_limit] if query_limit else texts
    per_query = max_per_query or config.max_per_query
    listings = search_listings(texts, prefix or config.search_prefix, per_query)
    _discover(config, pool_path, listings, _extractor(config, from_json, record, None), "humannet collect search")


@collect.command("channels")
@click.argument("urls", nargs=-1, required=True)
@click.option(
    "--max-per-channel",
    type=click.IntRange(min=1),
    default=None,
    help="Entries per channel (default: collect.max_per_channel).",
)
@pool_option
@from_json_option
@record_option
@_options
def channels(
    urls: tuple[str, ...],
    max_per_channel: int | None,
    pool_path: str | None,
    from_json: Path | None,
    record: Path | None,
    config_path: str | None,
    overrides: tuple[str, ...],
) -> None:
    """Crawl channel, playlist or page URLs into the pool (flat listing first, then full metadata for what passes the
    filters)."""
    from humannet.collect.listings import channel_listings

    config = _config(config_path, overrides)
    limit = max_per_channel or config.max_per_channel
    _discover(
        config,
        pool_path,
        channel_listings(list(urls), limit),
        _extractor(config, from_json, record, limit),
        "humannet collect channels",
    )


@collect.command("import")
@click.argument("manifest")
@click.option(
    "--format",
    "format_",
    type=click.Choice(["auto", "generic", "kinetics", "epic", "ego4d", "action100m", "folder"]),
    default="auto",
    show_default=True,
    help="Manifest layout; auto recognises the ready-made ones by their columns.",
)
@click.option(
    "--root",
    default=None,
    help="Where the dataset's videos are (folder or s3://...), for manifests that name videos by id (EPIC, Ego4D).",
)
@click.option(
    "--license",
    "license_",
    default=None,
    help="Licence of every video imported (required for a folder; overrides the dataset default).",
)
@click.option(
    "--source", default=None, help="Source name recorded for these videos (default: the dataset or manifest name)."
)
@click.option("--url-column", default=None, help="Column with the URL or path (generic manifests).")
@click.option("--start-column", default=None, help="Column with a segment start (seconds or HH:MM:SS).")
@click.option("--end-column", default=None, help="Column with a segment end.")
@click.option("--label-column", default=None, help="Column with labels.")
@click.option("--narration-column", default=None, help="Column with narration or caption text.")
@pool_option
@_options
def import_(
    manifest: str,
    format_: str,
    root: str | None,
    license_: str | None,
    source: str | None,
    url_column: str | None,
    start_column: str | None,
    end_column: str | None,
    label_column: str | None,
    narration_column: str | None,
    pool_path: str | None,
    config_path: str | None,
    overrides: tuple[str, ...],
) -> None:
    """Add a dataset manifest (CSV, JSONL, Parquet, JSON) or a folder of videos (local or s3://...) to the pool.

    URLs are queued for download; local and object-store files are recorded as done, so
    `humannet curate POOL` reads them where they are.
    """
    from collections import Counter

    from humannet.collect.datasets import Columns, import_manifest
    from humannet.collect.folders import folder_candidates
    from humannet.collect.pool import Pool
    from humannet.config import load_config

    everything = load_config(config_path, overrides)
    config = everything.collect
    is_folder = (
        format_ == "folder"
        or ("://" in manifest and not Path(manifest.split("?")[0]).suffix)
        or Path(manifest).is_dir()
    )
    if is_folder:
        if not license_:
            raise UsageError("a folder import needs --license (the licence its owner grants, e.g. CC-BY-4.0)")
        used, candidates = (
            "folder",
            folder_candidates(manifest, license_, source or "self-collected", everything.storage.options),
        )
    else:
        columns = Columns(url_column, start_column, end_column, label_column, narration_column)
        used, candidates = import_manifest(Path(manifest), config, format_, root, license_, source, columns)
    path = Path(pool_path or config.pool_path)
    with Pool(path) as pool:
        added = pool.add(candidates)
    states = Counter(c.state.value for c in candidates)
    reasons = Counter(c.reason.split(":", 1)[0] for c in candidates if c.reason)
    _summary(
        f"humannet collect import: {path}",
        [
            ("manifest", f"{manifest} ({used})"),
            ("videos", f"{len(candidates)} ({', '.join(f'{k} {n}' for k, n in states.most_common())})"),
            ("new in pool", str(added)),
            ("segments / narrations", str(sum(len(c.meta.get("narrations") or []) for c in candidates))),
            ("refused", ", ".join(f"{k} {n}" for k, n in reasons.most_common()) or "0"),
        ],
    )


@collect.command("download")
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=64),
    default=None,
    help="Concurrent downloads (default: collect.workers).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Download folder (default: collect.download_dir).",
)
@click.option("--retry-failed", is_flag=True, help="Give failed videos a fresh set of attempts first.")
@pool_option
@_options
def download(
    workers: int | None,
    out_dir: Path | None,
    retry_failed: bool,
    pool_path: str | None,
    config_path: str | None,
    overrides: tuple[str, ...],
) -> None:
    """Download every queued video of the pool, with a NAME.humannet.json metadata sidecar each.

    Resumable: kill it at any time and rerun; finished videos are not fetched again and
    partial ones continue where they stopped.
    """
    import time

    from humannet.collect.download import Downloader
    from humannet.collect.pool import Pool, State
    from humannet.engine.progress import make_progress

    config = _config(config_path, overrides)
    path = Path(pool_path or config.pool_path)
    target = out_dir or Path(config.download_dir)
    with Pool(path) as pool:
        if retry_failed:
            pool.requeue_failed()
        total = len(pool.rows(State.QUEUED)) + len(pool.rows(State.DOWNLOADING))
    started = time.perf_counter()
    downloader = Downloader(path, target, config, workers)
    with make_progress(_console()) as progress:
        task = progress.add_task("downloading", total=total, detail="")
        summary = downloader.run(
            on_finished=lambda row, error: progress.update(
                task, advance=0 if error and row.attempts < config.max_attempts else 1
            )
        )
    rows = summary.lines() + [
        ("wall time", f"{time.perf_counter() - started:.1f} s on {downloader.workers} worker(s)"),
        ("folder", str(target)),
    ]
    _summary(f"humannet collect download: {path}", rows, summary.failures)


@click.group()
def pool() -> None:
    """Inspect the URL pool."""


@pool.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pool_option
@_options
def pool_stats(as_json: bool, pool_path: str | None, config_path: str | None, overrides: tuple[str, ...]) -> None:
    """Counts of pool rows by state, by source and state, and by reason (filtered and failed)."""
    from humannet.collect.pool import Pool

    config = _config(config_path, overrides)
    path = Path(pool_path or config.pool_path)
    if not path.is_file():
        raise UsageError(f"no URL pool at {path} (collect something first, or give --pool)")
    with Pool(path) as opened:
        counts = opened.counts()
    if as_json:
        click.echo(json.dumps({k: dict(v.most_common()) for k, v in counts.items()}, indent=1))
        return
    click.echo(f"URL pool {path}: {sum(counts['state'].values())} videos")
    for name, counter in counts.items():
        click.echo(f"\nby {name}:")
        for key, n in counter.most_common():
            click.echo(f"  {n:8d}  {key}")
