"""The dataset card: `README.md` at the corpus root, so the Hugging Face `datasets` loader and the Hub read a corpus
as what it is.

Without it, `datasets.load_dataset(corpus)` guesses a builder from the files it sees and picks the JSON one
(`manifest.json`, `state/*.json`), which fails. The card's YAML front matter names two configurations, `clips` (the
default: the clip index) and `videos`, and declares their features as the Parquet types. The shards are not a third
configuration: `datasets` 5 reads every configuration of a folder with the one builder it picks for the first (here
Parquet), so they load on their own, `load_dataset("webdataset", data_files="corpus/shards/*.tar")`, which works
because every clip JSON has the same keys and types (`writer.clip_metadata`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from humannet.storage import atomic_write_bytes

CARD_FILE = "README.md"
SIMPLE_TYPES = {
    pa.string(): "string",
    pa.large_string(): "large_string",
    pa.bool_(): "bool",
    pa.int8(): "int8",
    pa.int16(): "int16",
    pa.int32(): "int32",
    pa.int64(): "int64",
    pa.float32(): "float32",
    pa.float64(): "float64",
    pa.binary(): "binary",
    pa.null(): "null",
}


def write_card(corpus_dir: Path) -> None:
    """Write `README.md` from the index files present in `corpus_dir` (call it after writing the index)."""
    configs: list[dict[str, Any]] = []
    infos: list[dict[str, Any]] = []
    clip_parts = sorted((corpus_dir / "clips").glob("*.parquet"))
    tables = {"clips": ("clips/*.parquet", clip_parts), "videos": ("videos.parquet", [corpus_dir / "videos.parquet"])}
    for name, (pattern, paths) in tables.items():
        paths = [path for path in paths if path.exists()]
        if not paths:
            continue
        configs.append(_config(name, pattern, default=name == "clips"))
        schema = pa.unify_schemas([pq.read_schema(path) for path in paths], promote_options="permissive")
        declared = features(schema)
        if declared is not None:  # else `datasets` takes the types from the Parquet files, as it would anyway
            infos.append({"config_name": name, "features": declared})
    front = yaml.safe_dump({"configs": configs, "dataset_info": infos}, sort_keys=False)
    atomic_write_bytes(corpus_dir / CARD_FILE, f"---\n{front}---\n\n{BODY}".encode())


def _config(name: str, pattern: str, default: bool = False) -> dict[str, Any]:
    config: dict[str, Any] = {"config_name": name, "data_files": [{"split": "train", "path": pattern}]}
    if default:
        config["default"] = True
    return config


def features(schema: pa.Schema) -> list[dict[str, Any]] | None:
    """An Arrow schema as the card's `features` list (the form `datasets.Features._to_yaml_list` writes); None when a
    column has a type this does not spell (a wrong declaration would fail the load, a missing one does not)."""
    fields = [(f.name, _feature_type(f.type)) for f in schema]
    if any(kind is None for _, kind in fields):
        return None
    return [{"name": name, **kind} for name, kind in fields]


def _feature_type(kind: pa.DataType) -> dict[str, Any] | None:
    if kind in SIMPLE_TYPES:
        return {"dtype": SIMPLE_TYPES[kind]}
    if pa.types.is_list(kind):
        inner = _feature_type(kind.value_type)
        return None if inner is None else {"list": inner["dtype"] if set(inner) == {"dtype"} else inner}
    if pa.types.is_struct(kind):
        members = features(pa.schema(list(kind)))
        return None if members is None else {"struct": members}
    return None


BODY = """# humannet corpus

Human-centric video clips curated by humannet: a Parquet index of clips and source videos, and WebDataset shards
holding each clip's video (`{clip_id}.mp4`), its metadata (`{clip_id}.json`) and its annotations
(`{clip_id}.pose.npz`, ...). The layout and every column are described in humannet's `docs/format.md`.

```python
from datasets import load_dataset

clips = load_dataset("path/to/corpus")             # the clip index (config "clips")
videos = load_dataset("path/to/corpus", "videos")  # one row per source video
shards = load_dataset("webdataset", data_files="path/to/corpus/shards/*.tar")  # each clip's mp4, JSON and npz files
```

Each clip keeps the licence of its source video (`license`, `license_spdx` in `videos` and in the clip JSON).
"""
