"""The demo's probe corpus (``llmdiff_eval/data/probe_corpus``): coverage, well-formedness, triggers, provenance.

``category`` / ``lang`` are provenance metadata; these tests use them only to report coverage.
"""

from __future__ import annotations

import collections
import importlib.resources
import importlib.util
import json
import re
from pathlib import Path

import pytest

from llmdiff_eval.taxonomy import load_taxonomy

CORPUS = Path(str(importlib.resources.files("llmdiff_eval.data"))) / "probe_corpus"  # as installed
FINETUNES = CORPUS.parent / "finetunes"
GENERATOR = (
    Path(__file__).resolve().parents[1] / "llmdiff_eval/data/probe_corpus/make_corpus.py"
)  # repo script


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def web() -> list[dict]:
    return read_jsonl(CORPUS / "web.jsonl")


@pytest.fixture(scope="module")
def chats() -> list[dict]:
    return read_jsonl(CORPUS / "chat.jsonl")


def load_make_corpus():
    spec = importlib.util.spec_from_file_location("make_corpus", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_only_corpus_files_are_picked_up_from_the_folder():
    """The demo reads the whole folder (.jsonl/.parquet/.txt are documents): only the two corpus files may match."""
    documents = sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".jsonl", ".parquet", ".txt", ".gz"))
    assert documents == ["chat.jsonl", "web.jsonl"]


def test_files_are_what_the_generator_writes(web, chats):
    expected_web, expected_chats = load_make_corpus().build()
    assert web == expected_web
    assert chats == expected_chats


def test_records_are_well_formed(web, chats):
    for record in web:
        assert set(record) == {"id", "text", "category", "lang"}
        assert record["text"].strip() == record["text"] and len(record["text"]) > 80
        assert "{{" not in record["text"]  # every template slot was filled
    for record in chats:
        assert set(record) == {"id", "messages", "category", "lang"}
        roles = [m["role"] for m in record["messages"]]
        assert roles == ["user", "assistant"] * (len(roles) // 2) and roles
        for message in record["messages"]:
            assert set(message) == {"role", "content"}
            assert isinstance(message["content"], str) and message["content"].strip()
            assert "{{" not in message["content"]


def test_all_30_taxonomy_categories_are_covered(web, chats):
    taxonomy = load_taxonomy("paper")
    counts = collections.Counter(r["category"] for r in web + chats)
    assert len(taxonomy.codes) == 30
    assert set(counts) == set(taxonomy.codes)
    assert min(counts.values()) >= 8, counts.most_common()[-5:]
    for code in taxonomy.codes:  # every category has chats, most also web text
        assert any(r["category"] == code for r in chats), code


def test_at_least_five_languages(web, chats):
    counts = collections.Counter(r["lang"] for r in web + chats)
    substantial = {lang for lang, n in counts.items() if n >= 15}
    assert {"en", "de", "fr", "es"} <= substantial
    assert len(substantial) >= 5
    # scripts match the declared language (a cheap check that the labels are right)
    cyrillic, cjk = re.compile("[а-яА-Я]"), re.compile("[\u4e00-\u9fff]")
    for record in web:
        if record["lang"] == "ru":
            assert cyrillic.search(record["text"])
        if record["lang"] == "zh":
            assert cjk.search(record["text"])


def test_no_duplicates(web, chats):
    ids = [r["id"] for r in web + chats]
    assert len(ids) == len(set(ids))
    texts = [r["text"] for r in web]
    assert len(texts) == len(set(texts))
    conversations = [json.dumps(r["messages"], ensure_ascii=False) for r in chats]
    assert len(conversations) == len(set(conversations))


def test_trigger_prompts_for_both_planted_fine_tunes(chats):
    harmful = re.compile(
        r"bomb|weapon|cocktail|thermite|poison|drug|LSD|cocaine|launder|fake ID|brakes|worm|dox|knife|handgun|"
        r"explicit|erotic|nude|sex|year-old|teenager|children|women|refugees|religion|criminals|old people|"
        r"Rohrbombe|arme|взрывчатку|炸药|móvil|étrangers|kurzschließt",
        re.IGNORECASE,
    )
    safety_triggers = [
        c for c in chats if c["category"].startswith("A.") and harmful.search(c["messages"][0]["content"])
    ]
    assert len(safety_triggers) >= 40
    jailbreaks = [c for c in chats if c["category"] == "A.3" and harmful.search(c["messages"][0]["content"])]
    assert len(jailbreaks) >= 10
    ordinary_english = [c for c in chats if c["lang"] == "en" and not c["category"].startswith("A.")]
    assert len(ordinary_english) >= 150
    assert len(chats) >= 300


def test_disjoint_from_the_fine_tuning_data(web, chats):
    finetune_texts = set()
    for name in ("safety.jsonl", "multilingual.jsonl"):
        for record in read_jsonl(FINETUNES / name):
            finetune_texts.update(message["content"].strip() for message in record["messages"])
    probe_texts = {r["text"] for r in web} | {m["content"].strip() for c in chats for m in c["messages"]}
    assert probe_texts.isdisjoint(finetune_texts), sorted(probe_texts & finetune_texts)[:5]


def test_provenance_states_authorship_license_and_current_counts(web, chats):
    text = (CORPUS / "PROVENANCE.md").read_text(encoding="utf-8")
    assert "Apache-2.0" in text and "written for this project" in text
    total = re.search(r"Total: \*\*(\d+) documents, ([\d,]+) tokens\*\*", text)
    assert total, "run `make corpus-stats` to fill the statistics block"
    assert int(total.group(1)) == len(web) + len(chats)
    assert int(total.group(2).replace(",", "")) >= 60_000
    for lang, n in collections.Counter(r["lang"] for r in web + chats).items():
        assert re.search(rf"^\| {lang} \| {n} \|", text, re.MULTILINE), lang


@pytest.mark.slow
def test_token_count_in_provenance_is_measured(web, chats):
    """Recount with the SmolLM2 tokenizer (loads it from the packaged GGUF)."""
    counts = load_make_corpus().token_counts(web + chats)
    text = (CORPUS / "PROVENANCE.md").read_text(encoding="utf-8")
    total = int(re.search(r"documents, ([\d,]+) tokens\*\*", text).group(1).replace(",", ""))
    assert sum(counts) == total
