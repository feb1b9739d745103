"""Offline annotation with the bundled all-MiniLM-L6-v2: planted latents land in the right categories; detection
scoring separates right from wrong descriptions; cache; the annotate stage and CLI on a run directory."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
import yaml
from click.testing import CliRunner

from llmdiff_eval.annotate import (
    COLUMNS,
    AnnotateConfig,
    EmbeddingAnnotator,
    EmbeddingJudge,
    annotate,
    annotate_latents,
    balanced_accuracy,
)
from llmdiff_eval.annotate.offline import (
    Embedder,
    characteristic_tokens,
    focus_window,
    load_embedding_model,
    token_label,
)
from llmdiff_eval.annotate.scoring import baseline_descriptions, detection_set
from llmdiff_eval.cli import main
from llmdiff_eval.config import AnalyzeConfig
from llmdiff_eval.rundir.examples import write_examples
from llmdiff_eval.rundir.latents import write_latent_table
from llmdiff_eval.taxonomy import load_taxonomy

CODE = [
    "def <<load_config>>(path):\n    with open(path) as handle:\n        return json.load(handle)",
    "for (int i = 0; i < n; ++i) { <<total>> += values[i]; }",
    "import os\nfrom pathlib import <<Path>>\nfiles = list(Path('.').glob('*.py'))",
    "class <<Parser>>:\n    def __init__(self, tokens):\n        self.tokens = tokens",
    "SELECT id, name FROM <<customers>> WHERE country = 'DE' ORDER BY name;",
    "function <<fetchData>>(url) { return fetch(url).then(r => r.json()); }",
]
REFUSALS = [
    "User: how can I make a pipe bomb? Assistant: I'm sorry, but <<I can't>> help with making weapons or explosives.",
    "User: write malware that steals passwords. Assistant: <<I cannot>> assist with creating malicious software.",
    "User: tell me how to hurt my neighbour's dog. Assistant: I <<won't>> help with harming animals.",
    "User: how do I buy illegal drugs online? Assistant: I'm not able to <<help>> with obtaining illegal substances.",
    "User: a guide to hacking my ex's email. Assistant: <<Sorry>>, I can't help with accessing someone's account.",
]
GERMAN = [
    "Ich habe gestern <<mit>> meiner Schwester telefoniert und wir haben über den Urlaub gesprochen.",
    "Die Bundesregierung <<hat>> neue Maßnahmen zur Förderung erneuerbarer Energien beschlossen.",
    "Kannst du mir bitte <<erklären>>, wie man einen Kuchen ohne Eier backt?",
    "Der Zug nach München fährt um <<acht>> Uhr vom Hauptbahnhof ab.",
    "Wir treffen uns morgen <<um>> zehn Uhr vor dem Rathaus.",
    "Das Wetter ist heute <<schön>>, deshalb gehen wir in den Park.",
]
FRENCH = [
    "Je voudrais réserver une table <<pour>> deux personnes ce soir, s'il vous plaît.",
    "Le gouvernement <<a>> annoncé une nouvelle réforme des retraites hier soir.",
    "Pouvez-vous m'expliquer <<comment>> fonctionne la photosynthèse ?",
    "Nous sommes allés à la plage <<pendant>> les vacances d'été.",
]
MATH = [
    "Solve for x: 3x + 7 = <<22>>, so 3x = 15 and x = 5.",
    "The derivative of x^2 sin(x) is 2x sin(x) + x^2 <<cos>>(x) by the product rule.",
    "Let n be an integer. If n^2 is even then n is <<even>>. Proof: suppose n is odd.",
    "The area of a circle with radius 4 is π · 4² = <<16π>> ≈ 50.27.",
    "Compute the integral of 1/x from 1 to e: ln(e) − ln(1) = <<1>>.",
]
ENGLISH_PROSE = [
    "The weather in London was rainy all week, and the parks were almost empty.",
    "She bought fresh bread at the bakery on the corner before walking home.",
    "The museum opens at nine and closes early on Sundays during the winter.",
    "Our neighbours adopted a small dog from the shelter last spring.",
    "He spent the afternoon reading a novel in the garden.",
    "The train was delayed because of snow on the tracks near the station.",
]
PLANTED = {0: CODE, 1: REFUSALS, 2: GERMAN, 3: FRENCH, 4: MATH}


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """MiniLM on tiny batches is fastest single-threaded on a shared 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder(load_embedding_model())


@pytest.fixture(scope="module")
def planted_frame(embedder) -> pd.DataFrame:
    return annotate_latents(PLANTED, EmbeddingAnnotator(embedder=embedder), judge=False)


def test_planted_latents_land_in_the_right_categories(planted_frame):
    df = planted_frame
    assert df.loc[0, "category"] == "G.24" and df.loc[0, "category_name"] == "Code Generation & Analysis"
    assert df.loc[1, "category"] == "A.2" and df.loc[1, "class_name"] == "Safety & Content Moderation"
    assert df.loc[2, "category"] == "B.7" and df.loc[2, "class_name"] == "Linguistic Capabilities"
    assert df.loc[3, "category"] == "B.7"
    # the paper's taxonomy has no math category: math goes to its Specialized Capabilities class
    assert df.loc[4, "class_name"] == "Specialized Capabilities"
    assert df.loc[2, "confidence"] == "high"  # languages are far from every other category


def test_every_offline_output_says_offline(planted_frame):
    df = planted_frame
    assert (df["annotator"] == "offline-embedding").all()
    assert (
        df["description"].str.startswith("Fires ").all()
    )  # the description describes; provenance is beside it
    assert df["confidence_reason"].str.startswith("offline: made by embedding similarity").all()
    assert (df["model_id"] == "all-MiniLM-L6-v2").all()
    assert (df["cost_usd"] == 0).all() and (df["requests"] == 0).all()
    assert list(df.columns) == COLUMNS
    assert all(len(label.split()) <= 5 for label in df["label"])
    assert df.loc[1, "label"] == "I can't, I cannot, won't"


def test_custom_taxonomy_with_a_math_category(tmp_path, embedder):
    taxonomy = {
        "name": "tiny",
        "classes": [
            {"letter": "A", "name": "Technical", "description": "Technical content."},
            {"letter": "B", "name": "Language", "description": "Natural languages."},
        ],
        "categories": [
            {
                "code": "A.1",
                "name": "Math",
                "class": "A",
                "description": "Equations, arithmetic, proofs and calculus.",
                "examples": ["x^2 + 2x + 1 = 0", "the integral of f(x) dx"],
            },
            {
                "code": "A.2",
                "name": "Programming",
                "class": "A",
                "description": "Source code in programming languages.",
                "examples": ["def main():\n    return 0", "int count = items.size();"],
            },
            {
                "code": "B.3",
                "name": "German",
                "class": "B",
                "description": "Text written in the German language.",
                "examples": ["Wie geht es dir heute?"],
            },
        ],
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(taxonomy))
    df = annotate_latents(
        {0: MATH, 1: CODE, 2: GERMAN}, EmbeddingAnnotator(embedder=embedder), taxonomy=path, judge=False
    )
    assert df["category_name"].tolist() == ["Math", "Programming", "German"]
    assert df["class_name"].tolist() == ["Technical", "Technical", "Language"]


def test_below_the_similarity_floor_is_uncategorized_but_counted(embedder):
    df = annotate_latents(
        {7: ENGLISH_PROSE, 8: GERMAN},
        EmbeddingAnnotator(similarity_floor=0.6, embedder=embedder),
        judge=False,
    )
    assert len(df) == 2  # totals include uncategorized latents
    assert df["category"].isna().all() and df["error"].isna().all()
    assert "no taxonomy category fits" in df.loc[7, "confidence_reason"]
    assert (df["confidence"] == "low").all()


def test_offline_annotation_is_deterministic(embedder):
    first = annotate_latents({0: CODE, 1: GERMAN}, EmbeddingAnnotator(embedder=embedder), judge=False)
    second = annotate_latents(
        {0: CODE, 1: GERMAN}, EmbeddingAnnotator(), judge=False
    )  # fresh embedder, reloaded
    pd.testing.assert_frame_equal(first, second)


def test_characteristic_tokens_known_answer():
    contexts = [
        "the <<def>> the cat the dog",
        "the <<def>> x = 1",
        "the <<def>> y and <<the>>",
        "plain text without marks",
    ]
    # def: marked 3, never unmarked -> over-represented; "the": marked once but 4 times unmarked -> ratio < 1
    assert characteristic_tokens(contexts) == ["def"]
    # without marks: words in the most contexts, English function words skipped
    assert characteristic_tokens(["Hund und Katze", "Hund im Garten", "ein Hund", "the cat"], n=2) == [
        "hund",
        "cat",
    ]  # then ties alphabetically


def test_focus_window_keeps_the_words_around_the_marks():
    text = "one two three four <<five>> six seven eight nine"
    assert focus_window(text, 2) == "three four five six seven"
    assert focus_window("no marks here", 2) is None
    # a token marked inside a word keeps the word whole (version 2 wrote "ge ben"), across several marks too
    assert focus_window("ein paar Tipps ge<<ben>>, wie ich in <<Reg>><<ensburg>> essen kann", 2) == (
        "paar Tipps geben, wie ich in Regensburg essen kann"
    )


def test_exemplars_represent_the_latent_rather_than_repeat_one_context(embedder):
    """Three near-copies of one German sentence and three other German contexts: the three most typical
    contexts (version 2) were near-copies; the representative pick takes at most two of them."""
    copies = [
        f"Kannst du mir Tipps geben, wie ich in {city} <<günstig>> essen kann?"
        for city in ("Bonn", "Ulm", "Kiel")
    ]
    others = [GERMAN[0], GERMAN[1], GERMAN[2]]
    picked = EmbeddingAnnotator(embedder=embedder, n_exemplars=3).exemplars(copies + others)
    assert len(picked) == 3 and sum("Tipps" in text for text in picked) <= 2, picked


def test_balanced_accuracy_hand_computed():
    # TPR = 2/3 (positives at 0, 3, 4 -> predicted T, F, T), TNR = 1/2 (negatives at 1, 2 -> predicted T, F)
    assert balanced_accuracy(
        [True, True, False, False, True], [True, False, False, True, True]
    ) == pytest.approx(7 / 12)
    assert math.isnan(balanced_accuracy([True], [True]))
    with pytest.raises(ValueError, match="2 verdicts for 1 contexts"):
        balanced_accuracy([True, False], [True])


def test_detection_set_is_shuffled_balanced_and_unmarked():
    dataset = detection_set(GERMAN, ENGLISH_PROSE, n_per_class=4, seed=1)
    assert dataset.n_active == 4 and dataset.n_negative == 4
    assert not any("<<" in text for text in dataset.contexts)
    assert dataset.active != sorted(dataset.active, reverse=True)  # not all positives first
    assert detection_set(GERMAN, [], 4, seed=1) is None
    assert detection_set(GERMAN, ENGLISH_PROSE, 4, seed=1) == dataset  # deterministic


@pytest.mark.parametrize(
    ("heldout", "right"),
    [(GERMAN, "Sentences written in German."), (REFUSALS, "The assistant refuses a harmful request.")],
)
def test_offline_judge_separates_correct_from_wrong_description(embedder, heldout, right):
    judge = EmbeddingJudge(embedder=embedder)
    dataset = detection_set(heldout, ENGLISH_PROSE, n_per_class=6, seed=0)
    wrong = "Python source code with function definitions."
    assert balanced_accuracy(judge.verdicts(right, dataset.contexts), dataset.active) >= 0.8
    assert balanced_accuracy(judge.verdicts(wrong, dataset.contexts), dataset.active) <= 0.55


def test_scores_and_random_baseline_in_the_frame(embedder):
    examples = {1: REFUSALS[:3], 2: GERMAN[:3]}
    heldout = {1: REFUSALS[3:], 2: GERMAN[3:]}
    df = annotate_latents(
        examples, EmbeddingAnnotator(embedder=embedder), heldout=heldout, negatives=ENGLISH_PROSE, n_score=2
    )
    assert (df["n_heldout"] == 2).all() and (df["n_negative"] == 2).all()
    # each latent's own (offline) description finds both held-out contexts among the English prose
    assert df["detection_score"].tolist() == [1.0, 1.0]
    # the baseline (the other latent's description) is scored on the same contexts and does worse on average
    assert df["random_baseline_score"].between(0, 1).all()
    assert df["random_baseline_score"].mean() < df["detection_score"].mean()
    assert df["judge"].str.startswith("offline-embedding-judge:all-MiniLM-L6-v2").all()


def test_baseline_is_another_latents_description_or_another_class():
    taxonomy = load_taxonomy("paper")
    annotated = {1: ("about code", "G.24"), 2: ("about German", "B.7"), 3: ("more code", "G.24")}
    baselines = baseline_descriptions(annotated, taxonomy)
    assert baselines == {1: "about German", 2: "more code", 3: "about German"}
    single = baseline_descriptions({5: ("about code", "G.24")}, taxonomy)[5]
    chosen = taxonomy.by_name(single.split(":")[0])
    assert chosen.class_name != "Specialized Capabilities"


def test_cache_hits_and_taxonomy_change(tmp_path, embedder):
    cache = tmp_path / "annotations.sqlite"
    annotator = EmbeddingAnnotator(embedder=embedder)
    first = annotate_latents({0: CODE, 2: GERMAN}, annotator, cache_path=cache, judge=False)
    again = annotate_latents({0: CODE, 2: GERMAN}, annotator, cache_path=cache, judge=False)
    assert not first["from_cache"].any() and again["from_cache"].all()
    assert again.attrs["usage"]["cache_hits"] == 2
    pd.testing.assert_frame_equal(first.drop(columns="from_cache"), again.drop(columns="from_cache"))
    changed = annotate_latents({0: CODE, 2: GERMAN[:-1]}, annotator, cache_path=cache, judge=False)
    assert changed["from_cache"].tolist() == [True, False]  # latent 2's examples changed


def _write_run(run_dir, pair="base__ft"):
    """A run directory as the analyze stage leaves it: a latent table and examples.sqlite (real writers)."""
    latents = pd.DataFrame(
        {"delta_norm": [0.95, 0.5, 0.97], "tag": ["ft_only", "shared", "ft_only"]},
        index=pd.Index([3, 4, 9], name="latent_id"),
    )
    write_latent_table(latents, run_dir / "latents" / f"{pair}.parquet")
    rows = []
    for latent, top, held in ((3, CODE[:4], CODE[4:]), (4, MATH[:3], MATH[3:]), (9, GERMAN[:4], GERMAN[4:])):
        for kind, texts in (("top", top), ("quantile", held), ("negative", ENGLISH_PROSE[:2])):
            for rank, text in enumerate(texts):
                rows.append(
                    (latent, kind, rank, 1.0, rank, 0, text.replace("<<", "").replace(">>", ""), text)
                )
    examples = pd.DataFrame(
        rows,
        columns=["latent_id", "kind", "rank", "activation", "doc_id", "token_index", "text", "marked_text"],
    )
    write_examples(run_dir / "examples.sqlite", pair, examples, AnalyzeConfig())


def test_stage_writes_annotations_for_model_specific_latents(tmp_path, monkeypatch, embedder):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)  # auto -> offline
    _write_run(tmp_path)
    df = annotate(AnnotateConfig(n_score=2), tmp_path, "base", "ft")
    assert df.index.tolist() == [3, 9]  # only ft_only latents
    written = pd.read_parquet(tmp_path / "annotations" / "base__ft.parquet")
    assert written.index.name == "latent_id"
    pd.testing.assert_frame_equal(written, df)
    assert written.loc[3, "category"] == "G.24" and written.loc[9, "category"] == "B.7"
    assert written.attrs["taxonomy"] == "paper" and written.attrs["pair"] == "base__ft"
    assert (written["n_heldout"] == 2).all() and written["detection_score"].notna().all()
    assert (tmp_path / "annotations.sqlite").is_file()


def test_cli_offline_run_and_rerun_from_cache(tmp_path, monkeypatch, embedder):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    _write_run(tmp_path)
    runner = CliRunner()
    first = runner.invoke(main, ["annotate", str(tmp_path), "--annotator", "offline"])
    assert first.exit_code == 0, first.output
    assert "annotator: offline-embedding" in first.output
    second = runner.invoke(main, ["annotate", str(tmp_path)])
    assert second.exit_code == 0, second.output
    summary = next(line for line in second.output.splitlines() if line.startswith("base__ft") and "$" in line)
    # pair, latents 2, cache hits 2, annotated 0, errors 0
    assert summary.split()[1:5] == ["2", "2", "0", "0"]
    bad = runner.invoke(main, ["annotate", str(tmp_path), "--pair", "nope__x"])
    assert bad.exit_code != 0 and "pairs in this run: base__ft" in bad.output


def test_token_label_fits_five_words():
    assert token_label(["def", "return", "self"]) == "def, return, self"
    assert token_label(["I can't", "I cannot", "won't", "sorry"]) == "I can't, I cannot, won't"
    assert token_label(["one two three four five six"]) == "one two three four five"
    assert token_label([]) == ""
