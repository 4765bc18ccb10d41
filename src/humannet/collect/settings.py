"""Settings of the collection commands (`[collect]` in the TOML config)."""

from __future__ import annotations

from pydantic import BaseModel, Field

DEFAULT_BLOCKLIST = [
    "compilation",
    "slideshow",
    "slide show",
    "gameplay",
    "let's play",
    "walkthrough",
    "speedrun",
    "minecraft",
    "fortnite",
    "roblox",
    "animation",
    "animated",
    "cartoon",
    "lyrics",
    "music video",
    "trailer",
    "reaction",
    "podcast",
    "livestream",
    "top 10",
    "screen recording",
    "powerpoint",
]
DEFAULT_FORMAT = "bv*[height<=?720][ext=mp4]+ba[ext=m4a]/b[height<=?720][ext=mp4]/bv*[height<=?720]+ba/b[height<=?720]"


class CollectConfig(BaseModel, extra="forbid"):
    pool_path: str = Field(
        "collection/pool.sqlite",
        description="URL pool database (SQLite); every collect command reads and writes it (--pool overrides).",
    )
    download_dir: str = Field(
        "collection/videos",
        description="Where `collect download` writes videos and their NAME.humannet.json sidecars (--out overrides).",
    )
    partial_dir: str = Field(
        "collection/partial",
        description="Where unfinished downloads (.part files) wait to be resumed; kept out of download_dir.",
    )
    lease_s: float = Field(
        21600.0,
        gt=0,
        description="A download claimed longer ago than this (seconds) counts as abandoned and is retried.",
    )
    keywords_path: str | None = Field(
        None, description="Keyword repository YAML; unset = the bundled src/humannet/assets/keywords.yaml."
    )
    queries_path: str = Field(
        "collection/queries.jsonl",
        description="Where `collect keywords expand` writes the expanded queries and `collect search` reads them.",
    )
    # expansion
    viewpoint_templates: bool = Field(
        True,
        description="Expand seeds with the repository's viewpoint templates (POV, first person, head-mounted ...).",
    )
    instruction_templates: bool = Field(
        True, description="Expand seeds with the repository's instructional templates (how to, tutorial ...)."
    )
    context_templates: bool = Field(True, description="Expand seeds with their group's places (context variations).")
    neighbours_per_seed: int = Field(
        2,
        ge=0,
        le=50,
        description=(
            "Object-swap and verb-synonym variants kept per seed and method, ranked by MiniLM similarity; 0 = none."
        ),
    )
    neighbour_min_similarity: float = Field(
        0.6,
        ge=0,
        le=1,
        description="Lowest cosine similarity (MiniLM) between a seed and a variant for the variant to be kept.",
    )
    llm_endpoint: str | None = Field(
        None,
        description=(
            "OpenAI-compatible base URL (e.g. http://localhost:8000/v1) for optional LLM expansion; unset = off."
        ),
    )
    llm_model: str = Field("default", description="Model name sent to the LLM endpoint.")
    llm_api_key_env: str = Field(
        "OPENAI_API_KEY", description="Environment variable holding the endpoint's API key (sent only when set)."
    )
    llm_queries_per_seed: int = Field(3, ge=1, le=20, description="Queries asked from the LLM per seed keyword.")
    llm_timeout_s: float = Field(30.0, gt=0, description="Timeout of one LLM request (seconds).")
    # search and channels
    max_per_query: int = Field(20, ge=1, le=1000, description="Search results requested per query (ytsearchN:).")
    search_prefix: str = Field(
        "ytsearch", description="yt-dlp search prefix for queries: ytsearch, ytsearchdate, bilisearch ..."
    )
    max_per_channel: int = Field(200, ge=1, description="Most entries taken from one channel or playlist URL.")
    # source filters
    min_duration_s: float = Field(
        5.0,
        ge=0,
        description="Reject candidates shorter than this (seconds); unknown durations pass until full metadata.",
    )
    max_duration_s: float = Field(
        3600.0, gt=0, description="Reject candidates longer than this (seconds); also a download cap."
    )
    licenses: list[str] = Field(
        default_factory=list,
        description=(
            "Licence allow-list: a candidate passes when its licence contains one of these (any case), e.g. "
            "['creative commons']; empty = any."
        ),
    )
    channel_allow: list[str] = Field(
        default_factory=list, description="Only these channels (name, id or URL, case-insensitive); empty = any."
    )
    channel_deny: list[str] = Field(
        default_factory=list, description="Never these channels (name, id or URL, case-insensitive)."
    )
    domain_allow: list[str] = Field(
        default_factory=list, description="Only page URLs on these domains (and their subdomains); empty = any."
    )
    domain_deny: list[str] = Field(
        default_factory=list, description="Never page URLs on these domains (and their subdomains)."
    )
    languages: list[str] = Field(
        default_factory=list,
        description=(
            "Language allow-list (e.g. ['en']; 'en' also matches 'en-US'); unknown language passes; empty = any."
        ),
    )
    blocklist: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BLOCKLIST),
        description="Reject candidates whose title or tags contain one of these words or phrases.",
    )
    min_height: int = Field(
        360, ge=0, description="Reject candidates whose best video is lower than this (pixels); unknown passes."
    )
    allow_manifest_paths: bool = Field(
        False,
        description=(
            "Record local paths and object-store URIs an imported manifest names outside --root (or, without "
            "--root, outside the manifest's folder) as done; off = they are filtered with reason `location`."
        ),
    )
    # downloads
    format: str = Field(
        DEFAULT_FORMAT,
        description="yt-dlp format selector (default: best MP4 up to 720p, any container up to 720p otherwise).",
    )
    workers: int = Field(4, ge=1, le=64, description="Concurrent downloads (--workers overrides).")
    retries: int = Field(
        5, ge=0, le=50, description="yt-dlp's own retries of one HTTP transfer (resumes where it broke off)."
    )
    max_attempts: int = Field(
        4, ge=1, le=50, description="Download attempts per video across runs before it is recorded as failed."
    )
    backoff_s: float = Field(30.0, ge=0, description="Wait before the second attempt (seconds); doubles each attempt.")
    backoff_max_s: float = Field(3600.0, ge=0, description="Longest wait between attempts (seconds).")
    rate_limit_bytes: int | None = Field(
        None, ge=1, description="Download speed limit per worker (bytes per second); unset = unlimited."
    )
    sleep_between_s: float = Field(
        0.0, ge=0, description="Pause of each worker between two downloads (seconds), to be polite to a platform."
    )
    max_filesize_mb: float = Field(
        2048.0, gt=0, description="Largest file to download (MB); larger ones fail with a reason."
    )
    socket_timeout_s: float = Field(30.0, gt=0, description="Network timeout of one request (seconds).")
    allow_private_hosts: bool = Field(
        False,
        description=(
            "Download from loopback, private and link-local hosts (127/8, 10/8, 172.16/12, 192.168/16, 169.254/16, "
            "::1, fc00::/7, fe80::/10 ...); off = such URLs fail with reason `host`."
        ),
    )
    subtitles: bool = Field(
        True, description="Also fetch subtitles, or automatic captions when there are none, as the video's narrations."
    )
    subtitle_langs: list[str] = Field(
        default_factory=lambda: ["en", "en-.*"], description="Subtitle languages to fetch (yt-dlp regular expressions)."
    )
