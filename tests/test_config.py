import tomllib

import pytest

from humannet.config import Config, ConfigError, load_config, render_config


def test_defaults_render_as_valid_toml_with_help_for_every_key():
    text = render_config(Config())
    data = tomllib.loads(text)
    for section, field in Config.model_fields.items():
        model = field.annotation
        for key, info in model.model_fields.items():
            assert info.description, f"{section}.{key} has no help text"
            assert f"# {info.description}" in text
            if getattr(Config(), section).model_dump()[key] is not None:
                assert key in data[section], f"{section}.{key} missing from config show"
    assert load_config(None) == Config()


def test_file_and_overrides(tmp_path):
    path = tmp_path / "h.toml"
    path.write_text("[clips]\ntarget_s = 4.0\n[run]\nworkers = 3\n")
    config = load_config(path, ["clips.max_s=8", "materialize.preset=fast"])
    assert config.clips.target_s == 4.0 and config.clips.max_s == 8 and config.run.workers == 3
    assert config.materialize.preset == "fast"
    roundtrip = load_config(None, [])
    assert roundtrip.clips.target_s == 5.0


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["clips.min_s=-1"], "clips.min_s"),
        (["clips.nonsense=1"], "clips.nonsense"),
        (["run.workers=abc"], "run.workers"),
        (["materialize.preset=blazing"], "materialize.preset"),
        (["nosection.x=1"], "nosection"),
    ],
)
def test_bad_values_name_the_key(overrides, key):
    with pytest.raises(ConfigError) as info:
        load_config(None, overrides)
    assert key in str(info.value)


def test_bad_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[clips\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    inverted = tmp_path / "inverted.toml"
    inverted.write_text("[clips]\nmin_s = 8.0\nmax_s = 4.0\n")
    with pytest.raises(ConfigError, match="clips"):
        load_config(inverted)
