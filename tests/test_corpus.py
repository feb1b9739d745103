"""Corpus reading, mixing, chat rendering and tokenization (llmdiff_eval/corpus.py)."""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest
import tiny_models

from llmdiff_eval.corpus import (
    CorpusConfig,
    CorpusError,
    CorpusSource,
    Document,
    corpus_fingerprint,
    encode,
    iter_documents,
    render,
)


def _write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_jsonl_text_and_chat_records_in_order(tiny_corpus_path):
    records = tiny_models.corpus_records()
    docs = list(iter_documents(CorpusConfig(sources=[CorpusSource(path=str(tiny_corpus_path))])))
    assert [d.doc_id for d in docs] == list(range(len(records)))
    assert [d.text for d in docs[:24]] == [r["text"] for r in records[:24]]
    assert all(d.messages is None for d in docs[:24])
    assert [d.messages for d in docs[24:]] == [r["messages"] for r in records[24:]]
    assert {d.source for d in docs} == {"corpus.jsonl"}


def test_chat_record_rendered_through_template(tiny_tokenizer):
    doc = Document(
        doc_id=0,
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "red cat ?"},
            {"role": "assistant", "content": "blue dog"},
        ],
    )
    assert (
        render(doc, tiny_tokenizer)
        == "<|system|>be brief<|end|>\n<|user|>red cat ?<|end|>\n<|assistant|>blue dog<|end|>\n"
    )
    literal = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    assert (
        render(doc, tiny_tokenizer, literal) == "[system] be brief\n[user] red cat ?\n[assistant] blue dog\n"
    )


def test_encode_adds_bos_once_and_truncates(tiny_tokenizer):
    bos = tiny_tokenizer.bos_token_id
    chat = Document(doc_id=0, messages=[{"role": "user", "content": "hello"}])
    ids = encode(chat, tiny_tokenizer, context_length=100)
    assert ids[0] == bos and ids.count(bos) == 1
    assert tiny_tokenizer.decode(ids[1:]) == "<|user|>hello<|end|>\n"

    # A template that emits BOS itself must not get a second BOS from the tokenizer.
    with_bos = "{{ bos_token }}{% for m in messages %}{{ m['content'] }}{% endfor %}"
    ids = encode(chat, tiny_tokenizer, context_length=100, chat_template=with_bos)
    assert ids[0] == bos and ids.count(bos) == 1

    text = Document(doc_id=1, text="one two three four five six seven eight nine ten")
    full = encode(text, tiny_tokenizer, context_length=1000)
    assert len(full) > 6
    assert encode(text, tiny_tokenizer, context_length=6) == full[:6]


def test_chat_template_from_another_model_directory(tiny_base_dir, tiny_tokenizer):
    from llmdiff_eval.corpus import resolve_chat_template

    assert resolve_chat_template(str(tiny_base_dir), tiny_tokenizer) == tiny_models.CHAT_TEMPLATE
    assert resolve_chat_template(None, tiny_tokenizer) == tiny_models.CHAT_TEMPLATE


def test_chat_without_template_is_a_clear_error(tiny_tokenizer):
    bare = tiny_models.build_tokenizer("base")
    bare.chat_template = None
    doc = Document(doc_id=3, messages=[{"role": "user", "content": "hi"}], source="chats.jsonl")
    with pytest.raises(CorpusError, match="no chat\\s+template.*corpus.chat_template"):
        render(doc, bare)


def test_parquet_txt_and_directory_sources(tmp_path):
    pd.DataFrame({"body": ["alpha beta", "", "gamma"], "other": [1, 2, 3]}).to_parquet(tmp_path / "a.parquet")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("first para\nstill first\n\nsecond para\n\n\n", encoding="utf-8")

    parquet = list(
        iter_documents(
            CorpusConfig(sources=[CorpusSource(path=str(tmp_path / "a.parquet"), text_field="body")])
        )
    )
    assert [d.text for d in parquet] == ["alpha beta", "gamma"]  # the empty text is skipped

    txt = tmp_path / "sub" / "b.txt"
    by = {
        mode: [
            d.text
            for d in iter_documents(CorpusConfig(sources=[CorpusSource(path=str(txt), text_split=mode)]))
        ]
        for mode in ("file", "line", "paragraph")
    }
    assert by["file"] == ["first para\nstill first\n\nsecond para"]
    assert by["line"] == ["first para", "still first", "second para"]
    assert by["paragraph"] == ["first para\nstill first", "second para"]

    both = list(
        iter_documents(
            CorpusConfig(sources=[CorpusSource(path=str(tmp_path), text_field="body", text_split="line")])
        )
    )
    assert [d.text for d in both] == ["alpha beta", "gamma", "first para", "still first", "second para"]


def test_sharegpt_turns_are_normalised(tmp_path):
    path = _write_jsonl(
        tmp_path / "c.jsonl",
        [{"conversation": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]}],
    )
    docs = list(
        iter_documents(CorpusConfig(sources=[CorpusSource(path=str(path), messages_field="conversation")]))
    )
    assert docs[0].messages == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]


def test_weighted_mixing_is_deterministic_and_follows_weights(tmp_path):
    a = _write_jsonl(tmp_path / "a.jsonl", [{"text": f"a{i}"} for i in range(400)])
    b = _write_jsonl(tmp_path / "b.jsonl", [{"text": f"b{i}"} for i in range(400)])

    def cfg(seed, max_docs=200):
        return CorpusConfig(
            sources=[CorpusSource(path=str(a), weight=3), CorpusSource(path=str(b), weight=1)],
            max_docs=max_docs,
            seed=seed,
        )

    docs = list(iter_documents(cfg(0)))
    assert len(docs) == 200
    share_a = Counter(d.source for d in docs)["a.jsonl"] / 200
    assert 0.68 < share_a < 0.82  # expected 0.75; binomial sd ~0.03
    # within a source, documents keep their file order
    assert [d.text for d in docs if d.source == "a.jsonl"] == [f"a{i}" for i in range(round(share_a * 200))]
    assert [d.text for d in iter_documents(cfg(0))] == [d.text for d in docs]
    assert [d.text for d in iter_documents(cfg(1))] != [d.text for d in docs]

    # without a cap every document of both sources comes out exactly once (exhausted sources drop out)
    everything = [d.text for d in iter_documents(cfg(0, max_docs=None))]
    assert sorted(everything) == sorted([f"a{i}" for i in range(400)] + [f"b{i}" for i in range(400)])


def test_hf_dataset_source_is_streamed(tiny_corpus_path):
    local = list(iter_documents(CorpusConfig(sources=[CorpusSource(path=str(tiny_corpus_path))])))
    hf = list(
        iter_documents(
            CorpusConfig(sources=[CorpusSource(hf_dataset="json", data_files=str(tiny_corpus_path))])
        )
    )
    assert [(d.text, d.messages) for d in hf] == [(d.text, d.messages) for d in local]
    assert hf[0].source == "json"


def test_bad_corpora_give_clear_errors(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="corpus is empty.*empty.jsonl"):
        list(iter_documents(CorpusConfig(sources=[CorpusSource(path=str(empty))])))
    with pytest.raises(CorpusError, match="no sources"):
        list(iter_documents(CorpusConfig()))
    with pytest.raises(CorpusError, match="does not exist"):
        list(iter_documents(CorpusConfig(sources=[CorpusSource(path=str(tmp_path / "missing.jsonl"))])))
    wrong = _write_jsonl(tmp_path / "wrong.jsonl", [{"content": "x"}])
    with pytest.raises(CorpusError, match="neither 'text' nor 'messages'.*text_field"):
        list(iter_documents(CorpusConfig(sources=[CorpusSource(path=str(wrong))])))
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "ok"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(CorpusError, match="broken.jsonl:2 is not valid JSON"):
        list(iter_documents(CorpusConfig(sources=[CorpusSource(path=str(broken))])))
    with pytest.raises(CorpusError, match="exactly one of"):
        CorpusSource()
    with pytest.raises(CorpusError, match="weight must be > 0"):
        CorpusSource(path="x.jsonl", weight=0)
    with pytest.raises(CorpusError, match="unknown corpus source key.*'txt_field'"):
        CorpusConfig.from_dict({"sources": [{"path": "x.jsonl", "txt_field": "body"}]})


def test_config_round_trip_and_fingerprint(tmp_path, tiny_corpus_path):
    cfg = CorpusConfig.from_dict(
        {"sources": [{"path": str(tiny_corpus_path), "weight": 2.0}], "max_docs": 5, "seed": 3}
    )
    assert isinstance(cfg.sources[0], CorpusSource) and cfg.sources[0].weight == 2.0
    assert CorpusConfig.from_dict(cfg.to_dict()) == cfg
    fp = corpus_fingerprint(cfg)
    assert corpus_fingerprint(CorpusConfig.from_dict({**cfg.to_dict(), "max_docs": 50})) == fp
    assert corpus_fingerprint(CorpusConfig.from_dict({**cfg.to_dict(), "seed": 4})) != fp
    copy = tmp_path / "copy.jsonl"
    copy.write_text(tiny_corpus_path.read_text() + '{"text": "one more"}\n')
    assert (
        corpus_fingerprint(
            CorpusConfig(sources=[CorpusSource(path=str(copy), weight=2.0, name="corpus.jsonl")], seed=3)
        )
        != fp
    )
