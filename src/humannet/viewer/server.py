"""The viewer's HTTP server: the static page, a JSON API over the index, and clip media out of the shards.

Standard library only (ThreadingHTTPServer): the viewer is one person on their own machine,
and the page must work offline, so there is no web framework and no CDN.

    GET /                       the app (static/index.html, app.js, style.css)
    GET /api/facets             filterable columns: label values with counts, score ranges
    GET /api/clips?f.viewpoint=ego&s.blur_score=0.5,1&q=pour&limit=60&offset=0
    GET /api/clip/ID            index row, source video, labels with provenance, caption tree
    GET /api/clip/ID/pose       keypoints from {ID}.pose.npz
    GET /media/ID.mp4           the clip (HTTP Range supported, so the browser can seek)
    GET /thumb/ID.jpg           a thumbnail of the clip's middle frame, made on first request

A clip whose shard or member is missing gets a 404 with a JSON `error` saying which file and
why; the page shows a placeholder and the server goes on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import mimetypes
import re
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from humannet.corpus.reader import Corpus
from humannet.viewer.catalog import Catalog, Filters, QueryError, load_clip_json
from humannet.viewer.media import MediaMissing, ShardMembers, ThumbnailCache, parse_range, pose_for_browser

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
CLIP_ID = r"[A-Za-z0-9_.\-]+"
CHUNK = 256 * 1024


class ViewerApp:
    """What the request handler needs: the catalog (index queries) and the shard media."""

    def __init__(self, corpus: Corpus, cache_dir: Path) -> None:
        self.corpus = corpus
        self.catalog = Catalog(corpus)
        self.members = ShardMembers(corpus)
        self.thumbnails = ThumbnailCache(self.members, cache_dir)

    def shard_of(self, clip_id: str) -> str | None:
        row = self.catalog.clip_row(clip_id)
        if row is None:
            raise KeyError(clip_id)
        return row.get("shard")

    def clip_detail(self, clip_id: str) -> dict[str, Any] | None:
        row = self.catalog.clip_row(clip_id)
        if row is None:
            return None
        shard = row.get("shard")
        clip_json, media_error = None, None
        try:
            clip_json = load_clip_json(self.members.read(shard, f"{clip_id}.json"))
            self.members.span(shard, f"{clip_id}.mp4")
        except MediaMissing as exc:
            media_error = str(exc)
        return self.catalog.clip(clip_id, clip_json, media_error)


class ViewerHandler(BaseHTTPRequestHandler):
    server_version = "humannet-viewer"
    app: ViewerApp

    def __init__(self, *args: Any, app: ViewerApp, **kwargs: Any) -> None:
        self.app = app
        super().__init__(*args, **kwargs)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        log.debug("%s %s", self.address_string(), format % args)

    def do_HEAD(self) -> None:
        self._dispatch(head=True)

    def do_GET(self) -> None:
        self._dispatch(head=False)

    def _dispatch(self, head: bool) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path)
        query = parse_qs(url.query, keep_blank_values=True)
        try:
            if path in ("/", "/index.html"):
                self._static("index.html", head)
            elif path.startswith("/static/"):
                self._static(path[len("/static/") :], head)
            elif path == "/api/facets":
                self._json(self.app.catalog.facets())
            elif path == "/api/clips":
                self._json(self.app.catalog.clips(Filters.from_query(query)))
            elif match := re.fullmatch(f"/api/clip/({CLIP_ID})", path):
                self._clip(match.group(1))
            elif match := re.fullmatch(f"/api/clip/({CLIP_ID})/pose", path):
                self._pose(match.group(1))
            elif match := re.fullmatch(f"/media/({CLIP_ID})\\.mp4", path):
                self._video(match.group(1), head)
            elif match := re.fullmatch(f"/thumb/({CLIP_ID})\\.jpg", path):
                self._thumbnail(match.group(1))
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no such page: {path}")
        except QueryError as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except KeyError as exc:
            self._error(HTTPStatus.NOT_FOUND, f"no clip {exc.args[0]!r} in this corpus")
        except MediaMissing as exc:
            self._error(HTTPStatus.NOT_FOUND, str(exc))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser stopped reading (it does so when it seeks)
        except Exception as exc:  # one bad request never stops the server
            log.exception("viewer request %s failed", self.path)
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")

    def _clip(self, clip_id: str) -> None:
        detail = self.app.clip_detail(clip_id)
        if detail is None:
            raise KeyError(clip_id)
        self._json(detail)

    def _pose(self, clip_id: str) -> None:
        data = self.app.members.read(self.app.shard_of(clip_id), f"{clip_id}.pose.npz")
        try:
            pose = pose_for_browser(data)
        except Exception as exc:
            raise MediaMissing(f"{clip_id}.pose.npz: unreadable ({type(exc).__name__}: {exc})") from None
        self._json(pose)

    def _thumbnail(self, clip_id: str) -> None:
        data = self.app.thumbnails.get(self.app.shard_of(clip_id), clip_id)
        self._send(HTTPStatus.OK, data, "image/jpeg", {"Cache-Control": "max-age=3600"})

    def _video(self, clip_id: str, head: bool) -> None:
        shard = self.app.shard_of(clip_id)
        span = self.app.members.span(shard, f"{clip_id}.mp4")
        try:
            wanted = parse_range(self.headers.get("Range"), span.size)
        except ValueError:
            self._send(
                HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, b"", "video/mp4", {"Content-Range": f"bytes */{span.size}"}
            )
            return
        first, last = wanted if wanted else (0, span.size - 1)
        length = last - first + 1
        self.send_response(HTTPStatus.PARTIAL_CONTENT if wanted else HTTPStatus.OK)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(length))
        if wanted:
            self.send_header("Content-Range", f"bytes {first}-{last}/{span.size}")
        self.end_headers()
        if head:
            return
        with self.app.corpus.open_shard(span.shard) as handle:
            handle.seek(span.offset + first)
            remaining = length
            while remaining > 0:
                block = handle.read(min(CHUNK, remaining))
                if not block:
                    break
                self.wfile.write(block)
                remaining -= len(block)

    def _static(self, name: str, head: bool) -> None:
        path = (STATIC_DIR / name).resolve()
        if STATIC_DIR.resolve() not in path.parents or not path.is_file():
            self._error(HTTPStatus.NOT_FOUND, f"no such file: {name}")
            return
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self._send(
            HTTPStatus.OK,
            b"" if head else path.read_bytes(),
            kind,
            {"Cache-Control": "no-cache"},
            length=path.stat().st_size,
        )

    def _json(self, payload: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        body = json.dumps(payload, allow_nan=False, default=str).encode()
        self._send(status, body, "application/json")

    def _error(self, status: HTTPStatus, message: str) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._json({"error": message, "status": status.value}, status)

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        kind: str,
        headers: dict[str, str] | None = None,
        length: int | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(body)


def make_server(
    corpus: Corpus, host: str = "127.0.0.1", port: int = 8765, cache_dir: Path | None = None
) -> ThreadingHTTPServer:
    """A ready server (not yet serving); port 0 picks a free port (see `server.server_address`)."""
    import hashlib
    import tempfile

    if cache_dir is None:
        key = hashlib.sha1(str(corpus.root.resolve()).encode()).hexdigest()[:12]
        cache_dir = Path(tempfile.gettempdir()) / "humannet-viewer" / key
    app = ViewerApp(corpus, cache_dir)
    server = ThreadingHTTPServer((host, port), partial(ViewerHandler, app=app))
    server.daemon_threads = True
    return server
