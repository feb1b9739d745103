"""The report's latent browser in a real headless Chromium (DevTools protocol over a pipe): the panels are in the
DOM, a real click opens one and sets its deep link, a deep link opens its panel on load, sorting and filtering work,
tokens are shaded with the maximum outlined, the logit lens, histogram and causal hook are shown — and planted
``<script>`` and ``"><img onerror=...>`` strings in a context, a token, a label, a description, a class name and a
logit-lens token stay inert text in every view. A screenshot of an open panel is written (to ``$LLMDIFF_ARTIFACTS``
when set, as CI does)."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pandas as pd
import pytest
from chromium import DevTools, dump_dom
from test_scorecard_helpers import PLANTED, arena_frame, make_run

from llmdiff_eval.config import AnalyzeConfig
from llmdiff_eval.render import browser_latents, render_html
from llmdiff_eval.reports import scorecard_from_run
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.rundir.examples import write_examples
from llmdiff_eval.rundir.latents import write_logit_lens

ATTR_BREAK = '"><img src=x id=pwned-{where} onerror="document.title=\'PWNED-{where}\'">'
"""Breaks out of a double-quoted attribute if it is not escaped."""
PLANTED_KEY = "base__a/100"
N_LATENTS = 22  # a: 10, b: 8, c: 4 annotated latents (tests/test_scorecard_helpers.py)


def _plant(run: Path) -> None:
    """Per-token examples, a histogram, a logit lens and energies for pair base__a, with planted markup."""
    rundir = RunDir(run)
    annotations = pd.read_parquet(rundir.annotations("base__a"))
    annotations.loc[101, "description"] = "Fires " + ATTR_BREAK.format(where="desc")
    annotations.loc[102, "class_name"] = ATTR_BREAK.format(where="class")
    annotations.to_parquet(rundir.annotations("base__a"))
    latents = pd.read_parquet(rundir.latents("base__a"))
    latents["diff_energy"] = 1.0
    latents.loc[100, "diff_energy"] = 3.0  # 3 of 3 + 9 × 1 = 12 over the 10 annotated latents: 25 %
    latents.to_parquet(rundir.latents("base__a"))
    rows = []
    for latent_id in annotations.index:
        tokens = [" the", " zebra", "\n", f" {latent_id}"]
        acts = [0.0, 1.5, 3.0, 0.0]
        if latent_id == 100:
            tokens = ["before ", PLANTED, ATTR_BREAK.format(where="token"), " after"]
        for kind in ("top", "quantile"):
            rows.append({
                "latent_id": latent_id, "kind": kind, "rank": 0, "activation": 3.0, "doc_id": 1,
                "token_index": 3, "text": "".join(tokens), "marked_text": "".join(tokens),
                "tokens": json.dumps(tokens), "token_acts": json.dumps(acts), "focus": 2,
            })  # fmt: skip
    examples = pd.DataFrame(rows)
    examples.attrs["activation_histogram"] = {
        "bins": 20,
        "max_act": dict.fromkeys(annotations.index, 3.0),
        "counts": {latent_id: [50, 20] + [1] * 18 for latent_id in annotations.index},
    }
    write_examples(rundir.examples_db, "base__a", examples, AnalyzeConfig())
    lens = pd.DataFrame(
        [
            (100, "promoted", 0, 5, ATTR_BREAK.format(where="lens"), 4.5),
            (100, "promoted", 1, 6, " Sicherheit", 3.25),
            (100, "suppressed", 0, 7, PLANTED, -2.0),
        ],
        columns=["latent_id", "direction", "rank", "token_id", "token", "logit"],
    )
    write_logit_lens(lens, rundir.logit_lens("base__a"))


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("browser")
    run = make_run(root, plant_script=True)
    card = scorecard_from_run(
        run, "a", "b", arena=arena_frame(), arena_models=("model-a-arena", "model-b-arena")
    )
    _plant(run)
    card["causal"] = {  # the causal stage's scorecard block (other branch): one class row measured for a
        "a": [
            {
                "class": "Safety & Content Moderation",
                "n_latents": 2,
                "kl_removed": 0.42,
                "kl_closed": 0.3,
                "causal": True,
                "control_p95": 0.1,
            }
        ],
        "b": [],
    }
    html_text = render_html(card, run_dir=run)
    page = root / "report.html"
    page.write_text(html_text, encoding="utf-8")
    return page, html_text


def _inert(browser: DevTools) -> None:
    """No planted script or handler ran, nothing planted became an element."""
    browser.evaluate("new Promise(function(done){setTimeout(done, 300);})")  # let failed images fire onerror
    assert browser.evaluate("document.title") == "Scorecard: b vs a (each diffed against base)"
    assert browser.evaluate("document.querySelectorAll('[id^=pwned]').length") == 0
    assert browser.evaluate("document.scripts.length") == 1
    assert browser.evaluate(
        "Array.from(document.images).every(function(i){return i.src.startsWith('data:')})"
    )


def test_source_escapes_every_planted_string(browser_page: tuple[Path, str]) -> None:
    _, html_text = browser_page
    assert PLANTED not in html_text and '"><img' not in html_text and "<img src=x" not in html_text
    assert (
        html_text.count("&quot;&gt;&lt;img src=x id=pwned-") >= 5
    )  # desc, class (row, option, panel), token, lens
    assert html_text.count("<script>") == 1


def test_browser_data_from_the_run(browser_page: tuple[Path, str]) -> None:
    page, _ = browser_page
    latents = {latent.key: latent for latent in browser_latents(page.parent / "run")}
    assert len(latents) == N_LATENTS and {latent.pair for latent in latents.values()} == {
        "base__a",
        "base__b",
        "base__c",
    }
    planted = latents[PLANTED_KEY]
    assert planted.stats["weighted_share"] == pytest.approx(0.25) and planted.stats["delta_norm"] == 0.95
    assert planted.logit_lens["promoted"][1] == (" Sicherheit", 3.25)
    assert planted.histogram == (3.0, [50, 20] + [1] * 18)
    assert latents["base__b/200"].stats["weighted_share"] is None  # b's table has no diff_energy


def test_dom_has_a_hidden_panel_per_latent(browser_page: tuple[Path, str], tmp_path: Path) -> None:
    page, _ = browser_page
    dom = dump_dom(page, tmp_path / "profile")
    assert dom.count('<article class="panel"') == N_LATENTS and dom.count("<tr tabindex=") == N_LATENTS
    assert f'id="panel-{PLANTED_KEY}" hidden=""' in dom
    assert f"{N_LATENTS} of {N_LATENTS} latents shown" in dom  # the script ran (allowed by the CSP hash)
    assert 'id="pwned' not in dom


def test_click_opens_the_panel_and_everything_stays_escaped(
    browser_page: tuple[Path, str], tmp_path: Path
) -> None:
    page, _ = browser_page
    with DevTools(tmp_path / "profile") as browser:
        browser.open(page.resolve().as_uri())
        _inert(browser)
        assert (
            browser.evaluate("document.querySelectorAll('#latent-panels .panel:not([hidden])').length") == 0
        )
        browser.click(f'tr[data-key="{PLANTED_KEY}"] td:nth-child(3)')
        open_panels = (
            "Array.from(document.querySelectorAll('#latent-panels .panel:not([hidden])')).map(p=>p.id)"
        )
        assert browser.evaluate(open_panels) == [f"panel-{PLANTED_KEY}"]
        assert browser.evaluate("location.hash") == f"#latent={PLANTED_KEY}"
        panel = f"document.getElementById('panel-{PLANTED_KEY}')"
        text = browser.evaluate(f"{panel}.textContent")
        assert PLANTED in text and ATTR_BREAK.format(where="token") in text  # shown as text
        assert ATTR_BREAK.format(where="lens") in text and "Sicherheit" in text and "+4.5" in text
        assert "0.420 ✓" in text  # the causal hook: the class set's KL removed, beats controls
        shaded = browser.evaluate(
            f"Array.from({panel}.querySelectorAll('.tok')).map(t=>[t.textContent,t.title,t.classList.contains('max')])"
        )
        assert shaded[:2] == [[PLANTED, "f = 1.5", False], [ATTR_BREAK.format(where="token"), "f = 3", True]]
        assert browser.evaluate(f"{panel}.querySelectorAll('svg.hist rect').length") == 20
        _inert(browser)
        png = browser.screenshot(Path(os.environ.get("LLMDIFF_ARTIFACTS") or tmp_path) / "latent-panel.png")
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (1280, 900)
        assert len(png) > 20_000  # a rendered page, not a blank one
        browser.click(f'[id="panel-{PLANTED_KEY}"] .panel-close')
        assert browser.evaluate(open_panels) == [] and browser.evaluate("location.hash") == ""
        # the description and class-name plants in their rows and panels
        row_text = browser.evaluate("document.querySelector('tr[data-key=\"base__a/102\"]').textContent")
        assert ATTR_BREAK.format(where="class") in row_text
        browser.click('tr[data-key="base__a/101"]')
        line_break = "Array.from(document.getElementById('panel-base__a/101').querySelectorAll('.tok.nl'))"
        assert browser.evaluate(f"{line_break}.map(t=>[t.textContent, t.classList.contains('max')])") == [
            ["\n", True],
            ["\n", True],
        ]  # the shaded line break of its top and its quantile context, the window's maximum
        assert ATTR_BREAK.format(where="desc") in browser.evaluate(
            "document.getElementById('panel-base__a/101').textContent"
        )
        _inert(browser)


def test_sort_and_filter(browser_page: tuple[Path, str], tmp_path: Path) -> None:
    page, _ = browser_page
    keys = "Array.from(document.querySelectorAll('#latent-table tbody tr')).filter(r=>!r.hidden).map(r=>r.dataset.key)"
    with DevTools(tmp_path / "profile") as browser:
        browser.open(page.resolve().as_uri())
        browser.click("#latent-table th:nth-child(2) button")  # latent id, descending first
        ids = [int(key.split("/")[1]) for key in browser.evaluate(keys)]
        assert ids == sorted(ids, reverse=True)
        browser.click("#latent-table th:nth-child(2) button")
        assert [int(key.split("/")[1]) for key in browser.evaluate(keys)] == sorted(ids)
        browser.click("#latent-table th:nth-child(10) button")  # weighted share: 25 % first, missing last
        order = browser.evaluate(keys)
        assert order[0] == PLANTED_KEY and order[-1].startswith("base__c/")
        browser.type_text("#latent-filter", "planted")
        assert browser.evaluate(keys) == [PLANTED_KEY]
        assert (
            browser.evaluate("document.getElementById('latent-count').textContent")
            == f"1 of {N_LATENTS} latents shown"
        )
        browser.evaluate("document.getElementById('latent-filter').value=''")
        browser.evaluate(
            "var s=document.getElementById('latent-model');s.value='b';s.dispatchEvent(new Event('input'))"
        )
        assert len(browser.evaluate(keys)) == 8 and all(
            k.startswith("base__b/") for k in browser.evaluate(keys)
        )
        _inert(browser)


def test_deep_link_opens_its_panel(browser_page: tuple[Path, str], tmp_path: Path) -> None:
    page, _ = browser_page
    with DevTools(tmp_path / "profile") as browser:
        browser.open(page.resolve().as_uri() + "#latent=base__b/201")
        shown = browser.evaluate(
            "Array.from(document.querySelectorAll('#latent-panels .panel:not([hidden])')).map(p=>p.id)"
        )
        assert shown == ["panel-base__b/201"]
        assert browser.evaluate("document.querySelector('tr.selected').dataset.key") == "base__b/201"
        browser.evaluate("location.hash='#latent=base__a/100'")  # hashchange
        browser.evaluate("new Promise(function(done){setTimeout(done, 100);})")
        assert browser.evaluate("document.querySelector('tr.selected').dataset.key") == PLANTED_KEY
        _inert(browser)
