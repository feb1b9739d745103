"""The HTML report in a real headless Chromium (rendering, filter script, escaping of planted scripts; the latent
browser itself: tests/test_latent_browser.py), the model card
(YAML front matter + model-index, validated by huggingface_hub) and the pipeline's ``write_scorecard`` outputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from chromium import dump_dom
from click.testing import CliRunner
from test_scorecard_helpers import PLANTED, PLANTED_IMG, arena_frame, make_run

from llmdiff_eval.cli import main
from llmdiff_eval.render import highlight, render_html
from llmdiff_eval.render.modelcard import validate_model_card
from llmdiff_eval.reports import scorecard_from_run, write_model_card, write_scorecard
from llmdiff_eval.stats import diff_interval


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("report")
    run = make_run(root, plant_script=True)
    card = scorecard_from_run(
        run, "a", "b", arena=arena_frame(), arena_models=("model-a-arena", "model-b-arena")
    )
    page = root / "report.html"
    html_text = render_html(card, run_dir=run)
    page.write_text(html_text, encoding="utf-8")
    return page, html_text


def test_highlight_escapes_before_marking() -> None:
    assert highlight("a <<b&c>> <i>d</i>") == "a <mark>b&amp;c</mark> &lt;i&gt;d&lt;/i&gt;"
    assert highlight("x <<<script>>> y") == "x <mark>&lt;script</mark>&gt; y"


def test_html_report_is_self_contained_and_escaped(report_page: tuple[Path, str]) -> None:
    _, html_text = report_page
    assert PLANTED not in html_text and PLANTED_IMG not in html_text
    assert "&lt;script&gt;document.title=&#x27;PWNED&#x27;" in html_text
    assert not re.search(r"""(src|href)=["']?https?:""", html_text)  # no external resources
    assert html_text.count("data:image/png;base64,") == 3  # class shift, Elo, the run's Δnorm histogram
    assert html_text.count("<script>") == 1


def test_html_report_in_headless_chromium(report_page: tuple[Path, str], tmp_path: Path) -> None:
    page, _ = report_page
    dom = dump_dom(page, tmp_path / "profile")
    # rendered: title, headings and table rows
    assert "<title>Scorecard: b vs a (each diffed against base)</title>" in dom
    for heading in (
        "Capability classes",
        "Capability categories",
        "LMArena Elo",
        "Model-specific latents",
        "Plots",
    ):
        assert heading in dom
    assert re.search(r"<td>Safety &amp; Content Moderation</td>.*?30\.00.*?50\.00.*?\+20\.00", dom)
    assert (
        "Elo model-a-arena" in dom and "Elo model-b-arena" in dom
    )  # Arena columns say whose ratings they are
    assert "<mark>zebra</mark>" in dom  # contexts of a database without per-token activations
    # the inline browser script ran (allowed by the page's CSP hash); every primary pair's latents: 10 + 8 + 4
    assert "22 of 22 latents shown" in dom
    # planted scripts did not run and are visible as text
    assert "PWNED" not in dom.split("</title>")[0]
    assert 'id="pwned"' not in dom and 'id="pwned-img"' not in dom
    assert "Planted &lt;script&gt;document.title='PWNED';" in dom
    assert "&lt;img src=x id=pwned-img onerror=\"document.title='PWNED-IMG'\"" in dom


def test_html_filter_from_url_fragment(report_page: tuple[Path, str], tmp_path: Path) -> None:
    page, _ = report_page
    dom = dump_dom(page, tmp_path / "profile", "#filter=planted")
    assert "1 of 22 latents shown" in dom
    dom = dump_dom(page, tmp_path / "profile", "#filter=Multilingual")
    assert "4 of 22 latents shown" in dom  # B.7 Multilingual Processing: one latent of a, two of b, one of c


def _front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_model_card_model_index(tmp_path: Path) -> None:
    from llmdiff_eval.arena import fetch_arena

    run = make_run(tmp_path)
    arena = fetch_arena(["gemma-2-9b-it-simpo"], source="bundled")
    path = write_model_card(
        run,
        "b",
        arena=arena,
        arena_model="gemma-2-9b-it-simpo",
        arena_note="placeholder ratings",
        arena_own=True,
        out=tmp_path / "own.md",
    )
    text = path.read_text()
    meta = _front_matter(text)
    assert meta["base_model"] == "org/base-model" and "model-diffing" in meta["tags"]
    (entry,) = meta["model-index"]
    assert entry["name"] == "org/model-b"
    mechdiff, lmarena = entry["results"]
    assert (
        mechdiff["task"]["type"] == "text-generation"
        and mechdiff["dataset"]["type"] == "llmdiff-eval/mechdiff"
    )
    metrics = {metric["type"]: metric for metric in mechdiff["metrics"]}
    assert metrics["mechdiff_share_safety_content_moderation"]["value"] == 50.0
    assert metrics["mechdiff_share_format_structure_control"]["value"] == 12.5
    assert metrics["mechdiff_model_specific_latents"]["value"] == 8
    assert all({"type", "value", "name"} <= set(metric) for metric in mechdiff["metrics"])
    assert lmarena["dataset"]["type"] == "lmarena-ai/leaderboard-dataset"
    elo = {metric["type"]: metric["value"] for metric in lmarena["metrics"]}
    assert elo["elo_overall"] == 1228 and elo["elo_overall_style_control"] == 1276  # paper Table 3, SimPO
    data = validate_model_card(text)
    assert data.model_name == "org/model-b" and len(data.eval_results) == len(mechdiff["metrics"]) + len(elo)
    assert "## Capability breakdown" in text and "| Safety & Content Moderation | 4 | 50.00 |" in text
    assert "## LMArena ratings\n\nThis model's ratings, as `gemma-2-9b-it-simpo`" in text
    assert "placeholder ratings" in text


def test_stand_in_arena_ratings_stay_out_of_the_model_index(tmp_path: Path) -> None:
    """Ratings enter the model-index only when declared the model's own; the honest default is a stand-in."""
    from llmdiff_eval.arena import fetch_arena
    from llmdiff_eval.stats import wilson_interval

    run = make_run(tmp_path, scorecard={"arena_own": ["a"]})
    arena = fetch_arena(["gemma-2-9b-it-simpo"], source="bundled")
    text = write_model_card(
        run, "b", arena=arena, arena_model="gemma-2-9b-it-simpo", arena_note="the paper's SimPO, not b"
    ).read_text()
    (entry,) = _front_matter(text)["model-index"]
    assert [result["dataset"]["type"] for result in entry["results"]] == ["llmdiff-eval/mechdiff"]
    assert "elo_" not in text.split("---\n", 2)[1]  # nothing of the Arena in the metadata
    assert "## LMArena ratings of a stand-in model" in text and "**not** ratings of this model" in text
    assert "| overall | 1228 | 1276 |" in text and "the paper's SimPO, not b" in text
    low, high = wilson_interval(4, 8)  # b: 4 of 8 latents in Safety & Content Moderation
    assert f"| Safety & Content Moderation | 4 | 50.00 | [{100 * low:.1f}, {100 * high:.1f}] |" in text
    assert len(validate_model_card(text).eval_results) == 1 + 7  # latents + 7 class shares
    own = _front_matter(
        write_model_card(run, "a", arena=arena, arena_model="gemma-2-9b-it-simpo").read_text()
    )
    assert len(own["model-index"][0]["results"]) == 2  # a is declared own in scorecard.arena_own


def test_causal_results_in_the_capability_section(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    card = scorecard_from_run(run, "a", "b")
    rows = [{"class": "Safety & Content Moderation", "n_latents": 4, "kl_removed": 0.31, "kl_closed": 0.2,
             "control_p95": 0.05, "causal": True}]  # fmt: skip
    card["causal"] = {
        "a": [],
        "b": rows,
        "model_specific": {"a": None, "b": {"class": "model-specific", "n_latents": 8, "kl_removed": 0.6,
                                            "kl_closed": 0.4, "control_p95": 0.1, "causal": True}},
        "probe": {"a": None, "b": {"n_tokens": 5000, "layer": 20}},
    }  # fmt: skip
    text = write_model_card(run, "b", card=card).read_text()
    section = text.split("## Capability breakdown")[1].split("\n## ")[0]
    assert "### Causal effect of each class (ablation)" in section and "layer 20" in section
    assert "| Safety & Content Moderation | 4 | 0.310 | 0.200 | 0.050 | yes |" in section
    assert "| model-specific | 8 | 0.600 | 0.400 | 0.100 | yes |" in section
    assert "95% CI (pp)" in section  # the comparison's intervals sit in the same section
    assert "Causal effect" not in write_model_card(run, "a", card=card).read_text()  # nothing measured for a
    del card["causal"]
    assert "Causal effect" not in write_model_card(run, "b", card=card).read_text()


def test_invalid_model_index_is_rejected() -> None:
    broken = "---\nmodel-index:\n- name: x\n  results:\n  - task: {type: text-generation}\n    metrics: []\n---\n# x\n"
    with pytest.raises(ValueError):
        validate_model_card(broken)


def test_write_scorecard_stage_and_card_cli(tmp_path: Path) -> None:
    run = make_run(
        tmp_path,
        scorecard={
            "a": "a",
            "b": "b",
            "arena_models": {"a": "gemma-2-9b-it", "b": "gemma-2-9b-it-simpo"},
            "arena_source": "bundled",
            "arena_note": "placeholder: the paper's Gemma pair, not the run's models",
        },
    )
    card = write_scorecard(None, run)
    for name in ("scorecard.json", "scorecard.md", "scorecard.csv", "report.html", "model_card.md"):
        assert (run / name).is_file(), name
    saved = json.loads((run / "scorecard.json").read_text())
    assert saved["models"]["arena_b"] == "gemma-2-9b-it-simpo" and saved["classes"] == card["classes"]
    assert "placeholder: the paper's Gemma pair" in (run / "scorecard.md").read_text()
    model_card = (run / "model_card.md").read_text()
    # the demo's situation: Arena names mapped as placeholders, not declared own -> prose only, never model-index
    results = _front_matter(model_card)["model-index"][0]["results"]
    assert [result["dataset"]["type"] for result in results] == ["llmdiff-eval/mechdiff"]
    assert "ratings of a stand-in model" in model_card and "placeholder: the paper's Gemma pair" in model_card
    assert "| class | latents | share % | a share % | diff (pp) | 95% CI (pp) | q | change |" in model_card
    assert "Significant differences (q < 0.05):" in model_card
    safety = next(
        line for line in model_card.splitlines() if line.startswith("| Safety & Content Moderation |")
    )
    cells = [cell.strip() for cell in safety.strip("|").split("|")]
    low, high = diff_interval(3, 10, 4, 8)  # a: 3 of 10, b: 4 of 8 (tests/test_scorecard_helpers.py)
    assert cells[:5] + cells[6:] == [
        "Safety & Content Moderation",
        "4",
        "50.00",
        "30.00",
        "+20.00",
        cells[6],
        "+66.7%",
    ]
    assert cells[5] == f"[{low:+.1f}, {high:+.1f}]"
    validate_model_card(model_card)
    out = tmp_path / "card_c.md"
    result = CliRunner().invoke(main, ["card", str(run), "--model", "c", "--out", str(out)])
    assert result.exit_code == 0, result.output
    meta = _front_matter(out.read_text())
    shares = {m["type"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert (
        shares["mechdiff_share_specialized_capabilities"] == 50.0
        and len(meta["model-index"][0]["results"]) == 1
    )


def test_the_card_says_how_latents_were_chosen():
    from llmdiff_eval.config import AnalyzeConfig
    from llmdiff_eval.render.modelcard import selection_text

    absolute = selection_text(AnalyzeConfig().thresholds())
    assert "Δnorm ≥ 0.9" in absolute and "latent scaling confirms (ν^ε < 0.2, ν^r < 0.5)" in absolute
    relative = selection_text(AnalyzeConfig(selection="relative").thresholds((0.61, 0.39)))
    assert "outlier of this pair (Δnorm ≥ 0.610" in relative and "5 robust standard deviations" in relative
    assert "confirms" not in relative and "not used to select" in relative
    energy = selection_text(AnalyzeConfig(selection="energy", energy_fraction=0.8).thresholds())
    assert "carry 80% of the pair's representational difference" in energy and "confirms" not in energy
