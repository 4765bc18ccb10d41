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


def test_config_show_round_trips_through_load_config_and_hides_credentials(tmp_path):
    """`humannet config show > humannet.toml` must load back to the same settings, without printing secrets."""
    options = (
        'storage.options={endpoint_url = "http://127.0.0.1:9000", key = "AKIAEXAMPLE", '
        'aws_secret_access_key = "s3cr3t-value", client_kwargs = {region_name = "eu-west-1"}}'
    )
    overrides = [options, "clips.target_s=4.5", 'captions.openai.model="some/model"', "review.unsafe.threshold=0.25"]
    config = load_config(None, overrides)
    text = render_config(config)
    assert "AKIAEXAMPLE" not in text and "s3cr3t-value" not in text
    path = tmp_path / "humannet.toml"
    path.write_text(text)
    loaded = load_config(path)
    shown = {k: v for k, v in config.storage.options.items() if k not in ("key", "aws_secret_access_key")}
    assert loaded.storage.options == shown
    assert loaded.model_dump(exclude={"storage"}) == config.model_dump(exclude={"storage"})


@pytest.mark.parametrize(
    ("override", "toml", "suggestion"),
    [
        ("clips.target=4", "[clips]\ntarget = 4\n", "clips.target_s"),  # a misspelt key
        ("clip.target_s=4", "[clip]\ntarget_s = 4\n", "clips.target_s"),  # a misspelt section
        ("run.target_s=4", "[run]\ntarget_s = 4\n", "clips.target_s"),  # a key in the wrong section
        ("privacy.confirm_abov=1", "[privacy]\nconfirm_abov = 1\n", "privacy.confirm_above"),
    ],
)
def test_config_typos_get_a_suggestion_from_the_command_line(tmp_path, override, toml, suggestion):
    from click.testing import CliRunner

    from humannet.cli import main

    path = tmp_path / "h.toml"
    path.write_text(toml)
    for args in (["--set", override], ["--config", str(path)]):
        result = CliRunner().invoke(main, ["config", "show", *args])
        assert result.exit_code == 2, result.output
        assert f"did you mean `{suggestion}`?" in result.output


def test_no_suggestion_for_a_key_like_none():
    with pytest.raises(ConfigError) as info:
        load_config(None, ["clips.zzzz=1"])
    assert "clips.zzzz" in str(info.value) and "did you mean" not in str(info.value)
