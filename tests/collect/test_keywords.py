"""The keyword repository and query expansion (templates, MiniLM neighbours, an OpenAI-compatible endpoint)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import pytest
import yaml

from humannet.captions.chat import ChatClient
from humannet.collect.expand import Expander, minilm_embedder, normalise_query
from humannet.collect.keywords import KeywordError, gerund, load_repository
from humannet.collect.settings import CollectConfig


def taxonomy_labels() -> dict[str, set[str]]:
    """Every label name of each axis of taxonomy.yaml, inner nodes included."""

    def walk(labels: dict) -> set[str]:
        names = set()
        for name, spec in (labels or {}).items():
            names.add(name)
            names |= walk((spec or {}).get("children"))
        return names

    axes = yaml.safe_load((resources.files("humannet") / "assets" / "taxonomy.yaml").read_text())["axes"]
    return {axis: walk(spec["labels"]) for axis, spec in axes.items()}


def test_the_bundled_repository_covers_many_activities_with_taxonomy_labels():
    repository = load_repository()
    keywords = repository.keywords
    assert len(keywords) >= 500
    assert len({k.text for k in keywords}) == len(keywords)  # no seed twice
    groups = Counter(k.group for k in keywords)
    assert len(groups) >= 30 and max(groups.values()) < 0.1 * len(keywords)
    axes = taxonomy_labels()
    for keyword in keywords:
        for axis in ("environment", "motion_category", "interaction_style", "task_structure"):
            assert keyword.labels[axis] in axes[axis], (keyword.text, axis, keyword.labels[axis])
        assert keyword.labels.get("viewpoint", "ego") in axes["viewpoint"]
    assert {k.labels["motion_category"] for k in keywords} >= {"manipulation", "locomotion", "whole_body", "gesture"}
    assert len({k.labels["interaction_style"] for k in keywords}) == 5
    assert len({k.labels["environment"] for k in keywords}) >= 30
    assert {"viewpoint", "instruction", "context"} <= set(repository.templates)


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("chop onions", "chopping onions"),
        ("make bread", "making bread"),
        ("tie a tie", "tying a tie"),
        ("open a jar", "opening a jar"),
        ("sew a button", "sewing a button"),
        ("mop the floor", "mopping the floor"),
        ("see", "seeing"),
        ("fix a bike", "fixing a bike"),
    ],
)
def test_gerund(base, expected):
    assert gerund(base) == expected


def small_repository(tmp_path: Path) -> Path:
    path = tmp_path / "keywords.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "templates": {
                    "viewpoint": ["{phrase} POV", "first person {phrase}"],
                    "instruction": ["how to {base}", "{phrase} tutorial"],
                    "context": ["{phrase} {place}"],
                },
                "verb_synonyms": {"chop": ["dice", "slice", "paint"]},
                "groups": {
                    "cooking": {
                        "environment": "kitchen",
                        "motion_category": "manipulation",
                        "interaction_style": "tool_use",
                        "task_structure": "multi_step_procedural",
                        "places": ["at home"],
                        "swaps": [["onions", "carrots", "shoes"]],
                        "keywords": [
                            "chop onions",
                            {"text": "knead dough", "interaction_style": "hand_object_manipulation"},
                        ],
                    },
                    "dance": {
                        "environment": "public_indoor",
                        "motion_category": "whole_body",
                        "form": "noun",
                        "keywords": ["salsa dance"],
                    },
                },
            }
        )
    )
    return path


def test_templates_expand_with_provenance_and_duplicates_merge(tmp_path):
    repository = load_repository(small_repository(tmp_path))
    config = CollectConfig(neighbours_per_seed=0)
    queries = {q.query: q for q in Expander(repository, config).expand()}
    assert (
        "how to chop onions" in queries
        and "chopping onions POV" in queries
        and "first person kneading dough" in queries
    )
    # a noun phrase has no "how to"
    assert "salsa dance tutorial" in queries and not any(q.startswith("how to salsa") for q in queries)
    assert "chopping onions at home" in queries
    assert queries["kneading dough tutorial"].labels == {
        "environment": "kitchen",
        "motion_category": "manipulation",
        "interaction_style": "hand_object_manipulation",
        "task_structure": "multi_step_procedural",
        "domain": "cooking",
    }
    assert queries["chopping onions POV"].provenance == [
        {"seed": "chop onions", "method": "viewpoint", "detail": "{phrase} POV"}
    ]
    # a second seed producing the same query keeps one query with both provenances
    repository.keywords.append(
        repository.keywords[0].__class__(**{**repository.keywords[0].__dict__, "text": "chop onions", "group": "other"})
    )
    merged = {normalise_query(q.query): q for q in Expander(repository, config).expand()}
    assert len(merged["chopping onions pov"].provenance) == 1  # identical provenance is stored once
    assert len(set(merged)) == len(merged)


def test_minilm_keeps_close_variants_and_drops_far_ones(tmp_path):
    repository = load_repository(small_repository(tmp_path))
    config = CollectConfig(
        neighbours_per_seed=2, viewpoint_templates=False, instruction_templates=False, context_templates=False
    )
    queries = Expander(repository, config, embed=minilm_embedder()).expand()
    variants = {q.query: q.provenance[0] for q in queries if q.provenance[0]["method"] in ("object", "synonym")}
    assert set(variants) == {"chop carrots", "slice onions", "dice onions"}
    # "chop shoes" is below the similarity floor; "paint onions" passes it but ranks third of three synonyms
    assert variants["chop carrots"]["detail"].startswith("onions -> carrots (similarity")


class FakeChatServer:
    """An OpenAI-compatible endpoint on loopback: answers in a code fence, then errors for one seed."""

    def __init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                prompt = body["messages"][-1]["content"]
                if "salsa" in prompt:
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                text = '```json\n["chopping onions fast", "onion dicing technique", "Chopping  onions FAST"]\n```'
                answer = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.requests: list[dict] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"


def test_llm_expansion_through_an_openai_compatible_endpoint(tmp_path):
    chat_server = FakeChatServer()
    try:
        repository = load_repository(small_repository(tmp_path))
        config = CollectConfig(
            neighbours_per_seed=0,
            viewpoint_templates=False,
            instruction_templates=False,
            context_templates=False,
            llm_model="tiny",
        )
        expander = Expander(repository, config, chat=ChatClient(chat_server.url, timeout_s=5, max_retries=1))
        queries = {q.query: q for q in expander.expand()}
    finally:
        chat_server.httpd.shutdown()
    assert "onion dicing technique" in queries and queries["onion dicing technique"].provenance[0] == {
        "seed": "chop onions",
        "method": "llm",
        "detail": "tiny",
    }
    assert sum(1 for q in queries if normalise_query(q) == "chopping onions fast") == 1
    assert [seed for seed, _ in expander.errors] == ["salsa dance"] and "HTTP 500" in expander.errors[0][1]
    assert chat_server.requests[0]["model"] == "tiny" and chat_server.requests[0]["messages"][0]["role"] == "system"
    assert "salsa dance" in queries  # the seed itself survives the endpoint failing


def test_a_broken_repository_names_the_entry(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"groups": {"cooking": {"keywords": [{"text": "chop", "colour": "red"}]}}}))
    with pytest.raises(KeywordError, match="cooking.*chop.*colour"):
        load_repository(path)


def test_expand_command_writes_queries_with_labels_and_provenance(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "queries.jsonl"
    humannet = str(Path(sys.executable).parent / "humannet")
    result = subprocess.run(
        [humannet, "collect", "keywords", "expand", "--group", "laundry", "--no-embeddings", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == len({normalise_query(line["query"]) for line in lines}) > 14 * 8
    fold = next(line for line in lines if line["query"] == "how to fold a fitted sheet")
    assert fold["labels"]["environment"] == "laundry_room" and fold["provenance"] == [
        {"seed": "fold a fitted sheet", "method": "instruction", "detail": "how to {base}"}
    ]
    unknown = subprocess.run(
        [humannet, "collect", "keywords", "expand", "--group", "no_such_group", "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert unknown.returncode == 2 and "no keywords in groups no_such_group" in unknown.stderr
