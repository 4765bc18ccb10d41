"""The catalogue: declared dataflow is checked, and invalidation follows exactly what each unit declares."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from humannet.config import Config, load_config
from humannet.engine.pipeline import Pipeline
from humannet.engine.stage import DataflowError, PipelineUnit, check_dataflow
from humannet.process.clips import ClipStage
from humannet.process.probe import ProbeStage
from humannet.process.quality import QualityStage
from humannet.process.scenes import SceneStage
from humannet.review.pii import PiiStage
from humannet.stages import (
    analysis_fingerprint,
    analysis_pipeline,
    analysis_stages,
    clip_annotators,
    encode_hooks,
    materialize_pipeline,
    materialize_stages,
    review_stages,
    write_fingerprint,
)


def catalogue(config: Config) -> dict[str, PipelineUnit]:
    """Every unit a corpus built with `config` runs, by name."""
    units = [*analysis_stages(config), *encode_hooks(config), *clip_annotators(config), *materialize_stages(config, "")]
    return {unit.name: unit for unit in units}


@pytest.fixture(scope="module")
def config() -> Config:
    return Config()


@pytest.fixture(scope="module")
def units(config) -> dict[str, PipelineUnit]:
    return catalogue(config)


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["humans.enabled=false"],
        ["review.pii.enabled=false", "review.unsafe.enabled=false"],
        ["pose_tracks.enabled=false"],
    ],
)
def test_every_configured_pipeline_passes_its_dataflow_check(overrides):
    config = load_config(overrides=overrides)
    Pipeline.from_spec(analysis_pipeline(config))  # builds, checks and sets up in one go, as a worker does
    check_dataflow(materialize_stages(config, "")[0].hooks + materialize_stages(config, "")[0].annotators, ())
    assert Pipeline(materialize_stages(config, ""), config.decode, available=materialize_pipeline(config, "").available)


def test_a_stage_before_what_it_reads_fails_with_one_line_naming_stage_and_key(config):
    with pytest.raises(DataflowError) as caught:
        Pipeline([ProbeStage(), ClipStage(config.clips), SceneStage(config.scenes)], config.decode)
    assert str(caught.value) == "pipeline order: clips reads 'scenes', but only scenes writes it, after it"
    assert "\n" not in str(caught.value)


def test_an_optional_input_written_too_late_is_an_error_not_a_silent_miss(config):
    """The screen filter uses the on-screen text area when the text review runs; after it, the cue would be lost."""
    stages = [
        ProbeStage(),
        SceneStage(config.scenes),
        ClipStage(config.clips),
        QualityStage(config.quality),
        PiiStage(config.review.pii),
    ]
    with pytest.raises(DataflowError, match="quality reads 'text_area_fraction', but pii writes it after it"):
        check_dataflow(stages)
    check_dataflow([*stages[:3], stages[4], stages[3]])  # the catalogue's order
    check_dataflow(stages[:4])  # without the text review, quality runs on its other cues


def test_a_key_nobody_writes_is_named():
    class Reader(ClipStage):
        name = "reader"
        reads = ("nothing_writes_this",)

    with pytest.raises(DataflowError, match="reader reads 'nothing_writes_this', but no unit writes it"):
        check_dataflow([Reader(Config().clips)])


def perturbed(config: Config, path: str) -> Config:
    """`config` with the setting at the dotted `path` changed (a number raised, a string extended)."""
    parts = path.split(".")

    def change(node: BaseModel, rest: list[str]) -> BaseModel:
        value = getattr(node, rest[0])
        if len(rest) == 1:
            if isinstance(value, bool):
                new: Any = not value
            elif isinstance(value, int | float):
                new = type(value)(value * 1.5 + 1)
            else:
                new = f"{value}x"
            return node.model_copy(update={rest[0]: new})
        return node.model_copy(update={rest[0]: change(value, rest[1:])})

    return change(config, parts)  # type: ignore[return-value]


def thresholds(config: Config, units: dict[str, PipelineUnit]) -> list[str]:
    """One numeric setting under every section any unit declares (or the declared setting itself)."""
    paths = []
    for section in sorted({s for unit in units.values() for s in unit.config_sections} | {"decode"}):
        node = config
        for part in section.split("."):
            node = getattr(node, part)
        if not isinstance(node, BaseModel):
            paths.append(section)
            continue
        numeric = [
            name
            for name, value in node
            if isinstance(value, int | float) and not isinstance(value, bool) and name not in ("workers", "threads")
        ]
        if numeric:
            paths.append(f"{section}.{numeric[0]}")
    return paths


def declares(unit: PipelineUnit, path: str) -> bool:
    return any(path == section or path.startswith(f"{section}.") for section in unit.config_sections)


def settings_seen(unit: PipelineUnit) -> str:
    """The settings objects a built unit holds (its own and its helpers'), as text."""
    found = []
    for value in vars(unit).values():
        candidates = [value, *(vars(value).values() if hasattr(value, "__dict__") else ())]
        for candidate in candidates:
            if isinstance(candidate, BaseModel) and not isinstance(candidate, PipelineUnit):
                found.append(candidate.model_dump_json())
    return json.dumps(sorted(found))


def test_each_threshold_invalidates_exactly_the_units_that_declare_it(config, units):
    """Change one setting of every declared section: exactly the units declaring it get a new stamp, and
    only the fingerprint of the phase they belong to changes (analysis, writing, or a review stamp)."""
    before = {name: unit.stamp(config) for name, unit in units.items()}
    review = {stage.name for stage in review_stages(config)}
    analysis = {stage.name for stage in analysis_stages(config)} - review
    writing = set(units) - analysis - review
    paths = thresholds(config, units)
    assert len(paths) >= 18  # every section of every unit
    for path in paths:
        changed = perturbed(config, path)
        after = {name: unit.stamp(changed) for name, unit in units.items()}
        restamped = {name for name in units if after[name] != before[name]}
        assert restamped == {name for name, unit in units.items() if declares(unit, path)}, path
        assert (analysis_fingerprint(changed) != analysis_fingerprint(config)) == (
            bool(restamped & analysis) or path.startswith("decode.")
        ), path
        assert (write_fingerprint(changed) != write_fingerprint(config)) == bool(restamped & writing), path


def test_no_unit_reads_a_setting_it_does_not_declare(config, units):
    """A unit built from changed settings holds other settings only if it declares them: an undeclared read
    would leave finished work standing after the settings it came from changed."""
    seen = {name: settings_seen(unit) for name, unit in units.items()}
    for path in thresholds(config, units):
        rebuilt = catalogue(perturbed(config, path))
        for name, unit in rebuilt.items():
            if settings_seen(unit) != seen[name]:
                assert declares(unit, path), f"{name} reads {path} but does not declare it"
