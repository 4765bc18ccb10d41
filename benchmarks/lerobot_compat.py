"""Check `humannet export lerobot` against the real `lerobot` package: load, merge with a LeRobot-written dataset.

python -m benchmarks lerobot_compat [CORPUS] [--versions 0.4.4 0.6.1] [--size 320x180] [--cache DIR] [--keep DIR]
                                    [--json PATH] [--reference DIR]

For each LeRobot version a virtualenv is made once in the cache folder (outside the repository) with
`pip install lerobot==VERSION` on the Python that version needs. The robot-ready corpus (CORPUS, or
the bundled football clip curated once into the cache) is exported with humannet, with the
`--lerobot-version` of that release; then, inside each virtualenv, `benchmarks/lerobot_probe.py`
writes a dataset with the same features using LeRobot's own writer, loads both with `LeRobotDataset`,
merges them with LeRobot's `aggregate_datasets` and loads the merge. The report gives, per version,
each step's outcome and the differences between what LeRobot wrote and what humannet wrote
(info.json features; data, episodes and tasks Parquet schemas).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from humannet.corpus.export.lerobot import export_lerobot
from humannet.corpus.reader import open_corpus

# Each pinned LeRobot release: the Python it installs on (0.4.4 is the newest for humannet's 3.11), the pip
# requirement (from 0.5 on, the dataset code's dependencies are the `dataset` extra) and the export's
# --lerobot-version that writes what it writes.
VERSIONS = {
    "0.4.4": ("3.11", "lerobot==0.4.4", "0.4"),
    "0.6.1": ("3.12", "lerobot[dataset]==0.6.1", "0.6"),
}
REPOSITORY = Path(__file__).resolve().parent.parent
SAMPLE_CLIP = REPOSITORY / "examples" / "videos" / "exo_sam2_football_juggling.mp4"  # robot-ready with defaults
PROBE = Path(__file__).resolve().parent / "lerobot_probe.py"
# Per-file values of a video feature's info: they follow the data, not the writer.
PER_FILE_VIDEO_INFO = ("video.height", "video.width", "video.fps")


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "humannet-lerobot-compat"


def find_python(minor: str) -> str:
    """An interpreter of that minor version: on PATH, else one of pyenv's."""
    found = shutil.which(f"python{minor}")
    if found:
        return found
    pyenv_root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates = sorted(glob.glob(f"{pyenv_root}/versions/{minor}.*/bin/python{minor}"))
    if candidates:
        return candidates[-1]
    raise SystemExit(f"no Python {minor} found (on PATH or under {pyenv_root}/versions); LeRobot needs it")


def virtualenv(cache: Path, lerobot: str) -> Path:
    """The virtualenv with lerobot==VERSION, made (venv + pip install; slow the first time) unless already there."""
    root = cache / f"lerobot-{lerobot}"
    python = root / "bin" / "python"
    if installed(python) == lerobot:
        return python
    minor, requirement, _ = VERSIONS[lerobot]
    print(f"lerobot {lerobot}: making {root} (pip install {requirement}; minutes, several GB)", flush=True)
    subprocess.run([find_python(minor), "-m", "venv", "--clear", str(root)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", requirement], check=True)
    return python


def installed(python: Path) -> str | None:
    """The lerobot version in that interpreter's environment (None without it or without its dataset code's deps)."""
    if not python.exists():
        return None
    asked = [str(python), "-c", "from importlib.metadata import version; import datasets; print(version('lerobot'))"]
    done = subprocess.run(asked, capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def sample_corpus(cache: Path) -> Path:
    """The bundled football clip curated with default settings (robot-ready clips), once per cache."""
    corpus = cache / "corpus"
    if (corpus / "clips").exists():
        return corpus
    videos = cache / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLE_CLIP, videos / SAMPLE_CLIP.name)
    print(f"curating {SAMPLE_CLIP.name} into {corpus} (a few minutes)", flush=True)
    subprocess.run(
        [sys.executable, "-m", "humannet.cli", "curate", str(videos), "--out", str(corpus)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return corpus


def probe(python: Path, export: Path, work: Path) -> dict:
    """Run lerobot_probe.py in the virtualenv; its last stdout line is the JSON report."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_LEROBOT_HOME": str(work / "hf-lerobot"), "SVT_LOG": "1"}
    env.pop("PYTHONPATH", None)  # humannet's own packages must not leak into LeRobot's interpreter
    done = subprocess.run(
        [str(python), str(PROBE), str(export), str(work)], capture_output=True, text=True, env=env, cwd=work
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"probe": {"ok": False, "error": done.stderr.strip()[-2000:]}}
    return json.loads(lines[-1])


def differences(native: dict, export: dict) -> list[str]:
    """What humannet wrote differently from LeRobot, as lines (empty when the two agree)."""
    lines = []
    if native["info keys"] != export["info keys"]:
        lines.append(f"info.json keys: LeRobot {native['info keys']}, humannet {export['info keys']}")
    for name in sorted(set(native["features"]) | set(export["features"])):
        mine, theirs = export["features"].get(name), native["features"].get(name)
        if mine is None or theirs is None:
            lines.append(f"feature {name}: only in {'humannet' if theirs is None else 'LeRobot'}")
            continue
        for key in sorted(set(mine) | set(theirs)):
            if key == "info":
                continue
            if mine.get(key) != theirs.get(key):
                lines.append(f"feature {name}.{key}: LeRobot {theirs.get(key)!r}, humannet {mine.get(key)!r}")
        info_mine, info_theirs = mine.get("info") or {}, theirs.get("info") or {}
        for key in sorted(set(info_mine) | set(info_theirs)):
            if key in PER_FILE_VIDEO_INFO and key in info_mine and key in info_theirs:
                continue
            if info_mine.get(key, "<absent>") != info_theirs.get(key, "<absent>"):
                lines.append(
                    f"feature {name}.info[{key!r}]: LeRobot {info_theirs.get(key, '<absent>')!r}, "
                    f"humannet {info_mine.get(key, '<absent>')!r}"
                )
    for table in ("data schema", "episodes schema", "tasks schema"):
        for column in sorted(set(native[table]) | set(export[table])):
            theirs, mine = native[table].get(column, "<absent>"), export[table].get(column, "<absent>")
            if theirs != mine:
                lines.append(f"{table.split()[0]} column {column}: LeRobot {theirs}, humannet {mine}")
    if native["tasks pandas index"] != export["tasks pandas index"]:
        lines.append(f"tasks index: LeRobot {native['tasks pandas index']}, humannet {export['tasks pandas index']}")
    return lines


def reference(report: dict, command: str) -> dict:
    """The small fixture tests/data keeps: LeRobot's layout without the per-robot joint names."""
    native = report["native layout"]["result"]
    features = {}
    for name, feature in native["features"].items():
        features[name] = {key: value for key, value in feature.items() if key != "names" or feature["dtype"] == "video"}
    return {
        "generated by": command,
        "lerobot": report["lerobot"],
        "python": report["python"],
        "info keys": native["info keys"],
        "features": features,
        "data schema": native["data schema"],
        "episodes schema": native["episodes schema"],
        "tasks schema": native["tasks schema"],
        "tasks pandas index": native["tasks pandas index"],
    }


def describe(version: str, report: dict, export_frames: int, export_episodes: int) -> list[str]:
    lines = [f"lerobot {report.get('lerobot', version)} (Python {report.get('python', '?')})"]
    if "probe" in report:
        return lines + [f"  probe failed: {report['probe']['error']}"]
    native_frames = native_episodes = 0
    for step in ("write native", "load export", "load native", "merge", "load merged"):
        outcome = report[step]
        if not outcome["ok"]:
            lines.append(f"  {step}: FAILED {outcome['error']}")
            continue
        result = outcome["result"] or {}
        if step == "write native":
            native_frames, native_episodes = result["frames"], result["episodes"]
        if step.startswith("load"):
            detail = f"ok, {result['frames']} frames, {result['episodes']} episodes, {result['tasks']} task(s)"
            if step == "load merged":
                expected = (native_frames + export_frames, native_episodes + export_episodes)
                agrees = (result["frames"], result["episodes"]) == expected
                detail += " (the sum of both)" if agrees else f" (expected {expected[0]} frames, {expected[1]})"
            lines.append(f"  {step}: {detail}")
        else:
            lines.append(f"  {step}: ok")
    if report["native layout"]["ok"] and report["export layout"]["ok"]:
        diff = differences(report["native layout"]["result"], report["export layout"]["result"])
        lines.append("  layout: the same as LeRobot writes" if not diff else "  layout differences:")
        lines += [f"    {line}" for line in diff]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks lerobot_compat", description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, nargs="?", help="a corpus with robot-ready clips (default: sample clip)")
    parser.add_argument("--versions", nargs="+", default=list(VERSIONS), choices=list(VERSIONS))
    parser.add_argument("--size", default="320x180", metavar="WxH", help="video frame size of the export")
    parser.add_argument("--cache", type=Path, default=None, help="virtualenvs and the sample corpus (reused)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the datasets written here (default: removed)")
    parser.add_argument("--json", dest="json_path", type=Path, default=None, help="write the full reports here")
    parser.add_argument(
        "--reference", type=Path, default=None, help="write each version's layout as DIR/lerobot-VERSION.json"
    )
    args = parser.parse_args(argv)
    cache = (args.cache or default_cache()).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    corpus = args.corpus or sample_corpus(cache)
    pythons = {version: virtualenv(cache, version) for version in args.versions}
    width, _, height = args.size.partition("x")
    work = args.keep or Path(tempfile.mkdtemp(prefix="humannet-lerobot-compat-"))
    try:
        reports = {}
        for version, python in pythons.items():
            version_work = work / version
            export = version_work / "export"
            exported = export_lerobot(
                open_corpus(str(corpus)), export, size=(int(width), int(height)), lerobot_version=VERSIONS[version][2]
            )
            print(f"humannet export --lerobot-version {VERSIONS[version][2]}: {exported.describe()}")
            reports[version] = probe(python, export, version_work)
            print("\n".join(describe(version, reports[version], exported.frames, exported.episodes)), flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json_path:
        args.json_path.write_text(json.dumps(reports, indent=2))
    if args.reference:
        args.reference.mkdir(parents=True, exist_ok=True)
        for version, report in reports.items():
            command = f"python -m benchmarks lerobot_compat --versions {version} --reference {args.reference}"
            path = args.reference / f"lerobot-{version}.json"
            path.write_text(json.dumps(reference(report, command), indent=1) + "\n")
    failed = [v for v, r in reports.items() if "probe" in r or not all(r[s]["ok"] for s in ("load export", "merge"))]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
