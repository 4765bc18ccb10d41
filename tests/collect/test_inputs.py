import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from humannet.collect.inputs import InputError, resolve_inputs


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.mp4").write_bytes(b"x")
    (tmp_path / "a" / "two.MKV").write_bytes(b"x")
    (tmp_path / "a" / "notes.txt").write_text("not a video")
    (tmp_path / "b.mov").write_bytes(b"x")
    return tmp_path


def test_folder_is_recursive_sorted_and_ignores_other_files(tree):
    uris = [v.uri for v in resolve_inputs(str(tree))]
    assert [u.rsplit("/", 1)[1] for u in uris] == ["one.mp4", "two.MKV", "b.mov"]
    assert uris == sorted(uris)


def test_glob(tree):
    uris = [v.uri for v in resolve_inputs(str(tree / "**" / "*.mp4"))]
    assert len(uris) == 1 and uris[0].endswith("one.mp4")


def test_list_files_carry_metadata(tree):
    rows = [
        {"uri": "a/one.mp4", "license": "CC-BY-4.0", "title": "One", "source": None},
        {"uri": "b.mov", "license": None, "title": None, "source": "lab"},
    ]
    (tree / "l.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tree / "l.csv").write_text("uri,license,title,source\na/one.mp4,CC-BY-4.0,One,\nb.mov,,,lab\n")
    pq.write_table(pa.Table.from_pylist(rows), tree / "l.parquet")
    for name in ("l.jsonl", "l.csv", "l.parquet"):
        videos = resolve_inputs(str(tree / name))
        assert [v.uri for v in videos] == sorted(str(tree / r["uri"]) for r in rows)
        by_name = {v.uri.rsplit("/", 1)[1]: v.meta for v in videos}
        assert by_name["one.mp4"] == {"license": "CC-BY-4.0", "title": "One"}, name
        assert by_name["b.mov"] == {"source": "lab"}, name
    (tree / "l.txt").write_text("# comment\na/one.mp4\n\nmissing.mp4\n")
    assert [v.uri.rsplit("/", 1)[1] for v in resolve_inputs(str(tree / "l.txt"))] == ["one.mp4", "missing.mp4"]


def test_unusable_specs(tree):
    with pytest.raises(InputError, match="input not found"):
        resolve_inputs(str(tree / "nope"))
    (tree / "bad.csv").write_text("path\nx.mp4\n")
    with pytest.raises(InputError, match="uri"):
        resolve_inputs(str(tree / "bad.csv"))
    (tree / "bad.jsonl").write_text('{"uri": "x.mp4"}\nnot json\n')
    with pytest.raises(InputError, match="line 2"):
        resolve_inputs(str(tree / "bad.jsonl"))


def test_several_specs_merge_and_list_metadata_wins(tree):
    (tree / "l.csv").write_text("uri,license\nb.mov,CC0-1.0\n")
    videos = resolve_inputs(str(tree / "a"), str(tree / "b.mov"), str(tree / "l.csv"), str(tree / "a" / "one.mp4"))
    assert [v.uri.rsplit("/", 1)[1] for v in videos] == ["one.mp4", "two.MKV", "b.mov"]
    assert videos[-1].meta == {"license": "CC0-1.0"}


def test_relative_entries_of_a_list_file_on_a_store_resolve_like_paths(tmp_path):
    from tests.moto_s3 import moto_s3

    entries = ["../videos/a.mp4", ".hidden.mp4", "./b.mp4", "sub/../c.mp4", "/top.mp4", "..data/d.mp4"]
    with moto_s3() as (endpoint, client):
        client.create_bucket(Bucket="lab")
        client.put_object(Bucket="lab", Key="lists/in.txt", Body="\n".join(entries).encode())
        options = {"endpoint_url": endpoint}
        uris = [v.uri for v in resolve_inputs("s3://lab/lists/in.txt", storage_options=options)]
        assert uris == [
            "s3://lab/lists/..data/d.mp4",
            "s3://lab/lists/.hidden.mp4",
            "s3://lab/lists/b.mp4",
            "s3://lab/lists/c.mp4",
            "s3://lab/top.mp4",
            "s3://lab/videos/a.mp4",
        ]
        client.put_object(Bucket="lab", Key="lists/out.txt", Body=b"../../other-bucket/x.mp4\n")
        with pytest.raises(InputError, match="leaves the bucket s3://lab"):
            resolve_inputs("s3://lab/lists/out.txt", storage_options=options)


def test_an_animated_gif_is_an_input_and_is_analysed_like_any_video(tmp_path):
    """Short demonstration clips often come as GIFs: found in folders, decoded, clipped, never failed."""
    from humannet.config import load_config
    from humannet.engine.pipeline import Pipeline
    from humannet.records import Status
    from humannet.stages import analysis_pipeline
    from tests.conftest import ffmpeg

    gif = tmp_path / "demo" / "wave.gif"
    gif.parent.mkdir()
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=6", str(gif))
    (video,) = resolve_inputs(str(gif.parent))
    assert video.uri == str(gif)
    config = load_config(None, ["humans.enabled=false", "review.unsafe.enabled=false", "review.pii.enabled=false"])
    result = Pipeline.from_spec(analysis_pipeline(config)).run(video)
    assert result.status is not Status.FAILED, result.reason
    assert result.probe.container == "gif" and result.frames_decoded == 60 and result.clips
