"""Every setting of humannet, with its default and a one-line help, in one tree.

Each stage owns the model of its own settings (next to the code that reads them); this
module composes them, loads TOML files, applies `section.key=value` overrides and turns
validation failures into messages that name the offending key.
"""

from __future__ import annotations

import copy
import difflib
import os
import tomllib
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, Field, ValidationError

from humannet import UsageError
from humannet.annotate.camera_motion import CameraMotionConfig
from humannet.annotate.camera_trajectory import CameraTrajectoryConfig
from humannet.annotate.motion import MotionConfig
from humannet.annotate.motion3d import Motion3DConfig
from humannet.annotate.pose_tracks import PoseTrackConfig
from humannet.annotate.privacy import PrivacyConfig
from humannet.annotate.retarget import RetargetConfig
from humannet.annotate.viewpoint import ViewpointConfig
from humannet.captions.annotators import CaptionConfig
from humannet.collect.settings import CollectConfig
from humannet.media.cut import MaterializeConfig
from humannet.media.frames import DecodeConfig
from humannet.process.clips import ClipConfig
from humannet.process.dedup import DedupConfig
from humannet.process.humans import HumanConfig
from humannet.process.quality import QualityConfig
from humannet.process.scenes import SceneConfig
from humannet.review.config import ReviewConfig
from humannet.storage import StorageConfig


class RunConfig(BaseModel, extra="forbid"):
    workers: int = Field(0, ge=0, le=1024, description="Worker processes; 0 = one per CPU core.")
    runner: Literal["local", "ray"] = Field(
        "local", description="Where stages run: 'local' (process pool on this machine) or 'ray' (Ray Data actors)."
    )
    ray_address: str | None = Field(
        None,
        description=(
            "Ray cluster to run on with runner 'ray' ('auto', 'HOST:PORT'); unset = start a private local Ray for the "
            "run."
        ),
    )
    worker_retries: int = Field(
        1,
        ge=0,
        le=10,
        description="Times a video is retried after its worker process died before it is recorded as failed.",
    )
    progress_interval_s: float = Field(
        30.0,
        ge=0,
        description=(
            "When stderr is not a terminal (nohup, cron, Slurm), seconds between the plain progress lines written to "
            "the log instead of a progress bar."
        ),
    )
    lock_lease_s: float = Field(
        600.0,
        ge=10,
        description=(
            "Lease of the corpus lock (humannet.lock) in seconds: a writer refreshes it every third of this; a lock "
            "left by a run on another host that stopped refreshing it is taken over once it expires (on this host, "
            "as soon as its process is gone)."
        ),
    )


class CorpusConfig(BaseModel, extra="forbid"):
    shard_max_clips: int = Field(500, ge=1, description="Most clips in one WebDataset tar shard.")
    shard_max_mb: float = Field(1024.0, gt=0, description="Largest size of one tar shard (MB) before a new one starts.")


class Config(BaseModel, extra="forbid"):
    run: RunConfig = RunConfig()
    decode: DecodeConfig = DecodeConfig()
    scenes: SceneConfig = SceneConfig()
    clips: ClipConfig = ClipConfig()
    quality: QualityConfig = QualityConfig()
    dedup: DedupConfig = DedupConfig()
    humans: HumanConfig = HumanConfig()
    camera_motion: CameraMotionConfig = CameraMotionConfig()
    viewpoint: ViewpointConfig = ViewpointConfig()
    motion: MotionConfig = MotionConfig()
    materialize: MaterializeConfig = MaterializeConfig()
    privacy: PrivacyConfig = PrivacyConfig()
    pose_tracks: PoseTrackConfig = PoseTrackConfig()
    motion3d: Motion3DConfig = Motion3DConfig()
    retarget: RetargetConfig = RetargetConfig()
    camera_trajectory: CameraTrajectoryConfig = CameraTrajectoryConfig()
    captions: CaptionConfig = CaptionConfig()
    corpus: CorpusConfig = CorpusConfig()
    collect: CollectConfig = CollectConfig()
    storage: StorageConfig = StorageConfig()
    review: ReviewConfig = ReviewConfig()


class ConfigError(UsageError, ValueError):
    """A configuration problem, phrased for the person who wrote the file."""


def _format_validation_error(error: ValidationError, origin: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        got = item.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        hint = _did_you_mean(item["loc"], got) if item["type"] == "extra_forbidden" else None
        lines.append(f"{origin}: {key}: {item['msg']}{shown}" + (f"; did you mean `{hint}`?" if hint else ""))
    return "\n".join(lines)


def _did_you_mean(loc: tuple[str | int, ...], value: Any) -> str | None:
    """The known key nearest to an unknown one, as a dotted path: a misspelt key in its section, a misspelt section
    (with the key given under it, if only one), or the same key in another section (`run.target_s` ->
    `clips.target_s`)."""
    *parents, name = (str(part) for part in loc)
    known = _keys_under(parents)
    if known is None:
        return None
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        if not parents and isinstance(value, dict) and len(value) == 1:  # a misspelt section, one key under it
            return f"{close[0]}.{next(iter(value))}"
        return ".".join([*parents, close[0]])
    if len(parents) == 1:  # a key of one section written under another
        elsewhere = [f"{section}.{key}" for section in Config.model_fields for key in _keys_under([section]) or ()]
        matches = [path for path in elsewhere if path.split(".", 1)[1] == name]
        return matches[0] if len(matches) == 1 else None
    return None


def _keys_under(path: list[str]) -> list[str] | None:
    """The setting names of the section at `path` (`[]` = the sections), or None where the tree holds free
    mappings."""
    model: type[BaseModel] = Config
    parts = list(path)
    while parts:
        field = model.model_fields.get(parts.pop(0))
        annotation = field.annotation if field else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
            continue
        entry = typing.get_args(annotation)[-1] if typing.get_origin(annotation) is dict else None
        if parts and isinstance(entry, type) and issubclass(entry, BaseModel):
            parts.pop(0)  # a named entry of a mapping of sections (captions.backends.NAME)
            model = entry
            continue
        return None
    return list(model.model_fields)


def _parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected section.key=value")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # bare words are strings
    return key.strip().split("."), value


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: Sequence[str] = (),
    *,
    base: Mapping[str, Any] | None = None,
    origin: str = "config",
) -> Config:
    """Defaults, then the TOML file, then `section.key=value` overrides; errors name the key.

    `base` stands in for the file when there is none (the settings a corpus was built with, from
    its manifest); `origin` names it in error messages.
    """
    data: dict[str, Any] = copy.deepcopy(dict(base)) if base is not None else {}
    if path is not None:
        origin = str(path)
        try:
            data = tomllib.loads(Path(path).read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    for text in overrides:
        keys, value = _parse_override(text)
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {key} is not a section")
        node[keys[-1]] = value
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, origin)) from exc


SECRET_WORDS = ("secret", "password", "token", "credential", "key")  # storage option names that hold credentials


def is_secret(name: str) -> bool:
    """A storage option whose value is a credential (`secret`, `aws_secret_access_key`, `token`, `key`...)."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS) and not lowered.endswith(("_env", "endpoint_url"))


def _toml_value(value: Any) -> str:
    """One value in TOML syntax (tomli-w: strings escaped, floats exact, lists of any of these)."""
    return tomli_w.dumps({"v": value}).split("=", 1)[1].strip()


def render_config(config: Config) -> str:
    """The effective configuration as commented TOML: every key, its value, default and help.

    It loads back with `load_config` (`humannet config show > humannet.toml`). Credentials in
    `storage.options` are not printed: their lines are comments saying they are set.
    """
    lines = ["# humannet configuration (effective values). Every key is optional; this is the full set."]
    for section_name in Config.model_fields:
        _render_section(lines, section_name, getattr(config, section_name))
    return "\n".join(lines) + "\n"


def _render_section(lines: list[str], name: str, section: BaseModel) -> None:
    """One `[name]` table; nested settings (a model, a mapping of models, a free mapping) follow as `[name.key]`
    tables."""
    lines.append("")
    lines.append(f"[{name}]")
    nested: list[tuple[str, BaseModel | dict[str, Any]]] = []
    for key, info in type(section).model_fields.items():
        value = getattr(section, key)
        if isinstance(value, BaseModel):
            lines.append(f"# {info.description or ''} (table [{name}.{key}] below)")
            nested.append((f"{name}.{key}", value))
            continue
        if isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
            lines.append(f"# {info.description or ''} (tables [{name}.{key}.NAME] below)")
            nested += [(f"{name}.{key}.{sub}", v) for sub, v in value.items()]
            continue
        if isinstance(value, dict):
            lines.append(f"# {info.description or ''} (table [{name}.{key}] below)")
            nested.append((f"{name}.{key}", value))
            continue
        default = info.get_default(call_default_factory=True)
        note = info.description or ""
        if value != default:
            note += f" (default: {'unset' if default is None else _toml_value(default)})"
        lines.append(f"# {note}")
        if value is None:
            lines.append(f"# {key} =  # unset")
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for sub_name, sub in nested:
        if isinstance(sub, BaseModel):
            _render_section(lines, sub_name, sub)
        else:
            _render_mapping(lines, sub_name, sub)


def _render_mapping(lines: list[str], name: str, mapping: dict[str, Any]) -> None:
    """A free mapping (`storage.options`) as its own table, credentials left out."""
    lines.append("")
    lines.append(f"[{name}]")
    for key, value in mapping.items():
        quoted = _toml_value(key) if not key.replace("_", "").replace("-", "").isalnum() else key
        if is_secret(key):
            lines.append(f"# {quoted} = (set, not shown)")
        elif isinstance(value, dict):
            lines.append(
                f"{quoted} = {{ {', '.join(f'{_toml_value(k)} = {_toml_value(v)}' for k, v in value.items())} }}"
            )
        else:
            lines.append(f"{quoted} = {_toml_value(value)}")
