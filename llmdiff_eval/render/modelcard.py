"""Hugging Face model cards with a capability breakdown from model diffing.

``model_card(...)`` returns the text of a ``README.md`` model card: YAML front matter (``base_model``, ``tags`` and a
``model-index`` whose results carry the mechdiff class shares — percent of the model's model-specific latents per
capability class —, the model's LMArena ratings with and without style control **only when they are the model's
own** (``arena_own``; a stand-in's ratings go to the prose with their note), plus any lm-eval metrics), then Markdown
sections: the capability breakdown with 95 % intervals (and the causal results when the scorecard has them), the
Arena ratings, benchmarks and how the card was made. :func:`validate_model_card` parses it with ``huggingface_hub``'s
``ModelCard`` (offline) and raises if the metadata or ``model-index`` is invalid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import yaml

from llmdiff_eval.arena import resolve_model
from llmdiff_eval.counts import LatentCounts, share_pct
from llmdiff_eval.render.text import (
    DASH,
    fmt_change,
    fmt_diff,
    fmt_elo,
    fmt_interval,
    fmt_q,
    fmt_share,
    fmt_value,
    significance_line,
)
from llmdiff_eval.stats import wilson_interval
from llmdiff_eval.taxonomy import Taxonomy

MECHDIFF_DATASET = "llmdiff-eval/mechdiff"
ARENA_DATASET = "lmarena-ai/leaderboard-dataset"
TAGS = ["llmdiff-eval", "model-diffing", "crosscoder", "mechanistic-interpretability"]


def metric_slug(name: str) -> str:
    """``"Safety & Content Moderation"`` -> ``"safety_content_moderation"`` (for metric ``type`` ids)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def model_index(
    model: str,
    counts: LatentCounts,
    taxonomy: Taxonomy,
    base: str,
    arena_ratings: Sequence[Mapping[str, Any]] = (),
    arena_info: Mapping[str, Any] | None = None,
    benchmarks: Sequence[Mapping[str, Any]] = (),
    dataset_name: str = "mechdiff probe corpus",
) -> list[dict[str, Any]]:
    """The ``model-index`` list: mechdiff class shares, LMArena ratings, lm-eval metrics (values rounded for display).

    Shares are percent of the model's model-specific latents (2 decimals); Elo as published.
    """
    mechdiff_metrics = [
        {
            "type": "mechdiff_model_specific_latents",
            "value": counts.total,
            "name": f"Model-specific latents vs {base}",
        }
    ]
    for class_name in taxonomy.class_names:
        share = share_pct(counts.classes.get(class_name, 0), counts.total)
        if share is not None:
            mechdiff_metrics.append(
                {
                    "type": f"mechdiff_share_{metric_slug(class_name)}",
                    "value": round(share, 2),
                    "name": f"{class_name} (% of model-specific latents)",
                }
            )
    results = [
        {
            "task": {
                "type": "text-generation",
                "name": f"Model diffing vs {base} (crosscoder, capability shares)",
            },
            "dataset": {"type": MECHDIFF_DATASET, "name": dataset_name},
            "metrics": mechdiff_metrics,
        }
    ]
    arena_metrics = []
    for row in arena_ratings:
        for key, suffix, label in (
            ("rating", "", ""),
            ("rating_style", "_style_control", " (style control)"),
        ):
            if row.get(key) is not None:
                arena_metrics.append(
                    {
                        "type": f"elo_{row['category']}{suffix}",
                        "value": row[key],
                        "name": f"LMArena Elo, {row['category']}{label}",
                    }
                )
    if arena_metrics:
        info = arena_info or {}
        results.append(
            {
                "task": {"type": "text-generation", "name": "LMArena (Chatbot Arena) human preference"},
                "dataset": {
                    "type": ARENA_DATASET,
                    "name": f"LMArena text leaderboard {info.get('snapshot_date') or ''}".strip(),
                },
                "metrics": arena_metrics,
                "source": {
                    "name": f"LMArena via llmdiff-eval ({info.get('source', 'unknown source')})",
                    "url": "https://lmarena.ai/leaderboard/text",
                },
            }
        )
    by_task: dict[str, list[dict[str, Any]]] = {}
    for row in benchmarks:
        if row.get("value") is not None:
            by_task.setdefault(row["task"], []).append(
                {"type": row["metric"], "value": row["value"], "name": f"{row['task']} {row['metric']}"}
            )
    for task, metrics in by_task.items():
        results.append(
            {
                "task": {"type": "text-generation", "name": task},
                "dataset": {"type": task, "name": task},
                "metrics": metrics,
                "source": {
                    "name": "lm-evaluation-harness",
                    "url": "https://github.com/EleutherAI/lm-evaluation-harness",
                },
            }
        )
    return [{"name": model, "results": results}]


def model_card(
    model: str,
    counts: LatentCounts,
    taxonomy: Taxonomy,
    base: str,
    base_model: str | None = None,
    arena_ratings: Sequence[Mapping[str, Any]] = (),
    arena_info: Mapping[str, Any] | None = None,
    benchmarks: Sequence[Mapping[str, Any]] = (),
    comparison: Mapping[str, Any] | None = None,
    dataset_name: str = "mechdiff probe corpus",
    thresholds: Mapping[str, Any] | None = None,
    arena_own: bool = False,
    causal: Mapping[str, Any] | None = None,
) -> str:
    """The model card text (front matter + Markdown).

    ``arena_ratings``: rows ``{category, rating, rating_style}``; ``arena_info``: their provenance (``source``,
    ``snapshot_date``, ``arena_model``, ``note``); ``arena_own``: they are this model's own LMArena ratings — only
    then do they enter the ``model-index``; otherwise (the default) they belong to a stand-in and appear only in the
    prose, saying so, with the note. ``benchmarks``: rows ``{task, metric, value}``; ``comparison``: a scorecard dict
    whose ``b`` is this model (the caller checks), adding diff/interval/q/change columns vs its ``a``. ``causal``:
    this model's side of the scorecard's causal block (``{"rows": [...], "model_specific": {...} | None, "probe":
    {...} | None}``), shown in the capability section. ``base_model`` (a hub id) goes into the metadata when given.
    ``thresholds``: the tag rules of the analyze stage (the latent table's ``thresholds``), so the card says how
    latents were chosen.
    """
    metadata: dict[str, Any] = {}
    if base_model:
        metadata["base_model"] = base_model
    metadata["tags"] = TAGS
    metadata["model-index"] = model_index(
        model,
        counts,
        taxonomy,
        base,
        arena_ratings if arena_own else (),
        arena_info,
        benchmarks,
        dataset_name,
    )
    front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True)
    lines = [f"---\n{front}---", "", f"# {model}", ""]
    lines += _breakdown(counts, taxonomy, base, comparison)
    if causal:
        lines += causal_lines(causal)
    if arena_ratings:
        lines += _arena_lines(model, arena_ratings, arena_info or {}, arena_own)
    if benchmarks:
        lines += ["## Benchmarks (lm-eval)", "", "| task | metric | value |", "|---|---|---|"]
        lines += [f"| {row['task']} | {row['metric']} | {fmt_value(row['value'])} |" for row in benchmarks]
        lines.append("")
    lines += [
        "## How this card was made",
        "",
        f"A BatchTopK crosscoder was trained on paired activations of `{base}` and this model; "
        f"{selection_text(thresholds)} are this model's *model-specific* latents. Each was named from its top-activating contexts and placed in the capability taxonomy "
        f"`{taxonomy.name}` (Boughorbel et al. 2025, arXiv 2509.18792). A share is the percent of these latents in a "
        "class; it describes what the fine-tune added relative to its base, not how well the model performs.",
        "",
        "Generated by [llmdiff-eval](https://arxiv.org/abs/2509.18792).",
        "",
    ]
    return "\n".join(lines)


def _arena_lines(
    model: str, ratings: Sequence[Mapping[str, Any]], info: Mapping[str, Any], own: bool
) -> list[str]:
    arena_model = info.get("arena_model", model)
    where = (
        f"on the LMArena text leaderboard (source: {info.get('source', '?')}, snapshot "
        f"{info.get('snapshot_date', '?')})"
    )
    if own:
        title, intro = "## LMArena ratings", f"This model's ratings, as `{arena_model}` {where}."
    else:
        title = "## LMArena ratings of a stand-in model"
        intro = (
            f"Ratings of `{arena_model}` {where}, shown in place of this model's: they are **not** ratings of this "
            "model and are not listed in this card's model-index."
        )
    note = f" Note: {info['note']}" if info.get("note") else ""
    rows = [
        f"| {row['category']} | {fmt_elo(row.get('rating'))} | {fmt_elo(row.get('rating_style'))} |"
        for row in ratings
    ]
    return [
        title,
        "",
        intro + note,
        "",
        "| category | Elo | Elo (style control) |",
        "|---|---|---|",
        *rows,
        "",
    ]


def causal_lines(causal: Mapping[str, Any]) -> list[str]:
    """The capability section's causal results: per class, the share of KL(P_ft ‖ P_base) on held-out probe tokens
    removed by ablating the class's latents in this model (and closed by steering the base with them), against
    matched random latent sets (the causal stage's block, docs/causal.md)."""
    probe = causal.get("probe") or {}
    rows = [*causal.get("rows", []), *([causal["model_specific"]] if causal.get("model_specific") else [])]
    lines = [
        "### Causal effect of each class (ablation)",
        "",
        f"Ablating a class's latents at layer {probe.get('layer', '?')} replaces this model's residual by it minus "
        "the latents' fine-tune-minus-base decoder contributions; *KL removed* is the fraction of KL(P_ft ‖ P_base) "
        f"over {probe.get('n_tokens', '?')} held-out probe tokens that goes away (1 = all), *KL closed* the fraction "
        "closed by steering the base with the same latents; a class is causal when KL removed beats the 95th "
        "percentile of matched random latent sets.",
        "",
        "| class | latents | KL removed | KL closed | random controls p95 | causal |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        verdict = DASH if row.get("causal") is None else ("yes" if row["causal"] else "no")
        lines.append(
            f"| {row.get('class')} | {row.get('n_latents', DASH)} | {_fraction(row.get('kl_removed'))} | "
            f"{_fraction(row.get('kl_closed'))} | {_fraction(row.get('control_p95'))} | {verdict} |"
        )
    return [*lines, ""]


def _fraction(value: Any) -> str:
    return DASH if value is None else f"{value:.3f}"


def _share_interval(count: int, total: int) -> str:
    """95 % Wilson interval of ``count / total`` in percent, or a dash."""
    if total <= 0:
        return DASH
    low, high = wilson_interval(count, total)
    return f"[{100 * low:.1f}, {100 * high:.1f}]"


def _breakdown(
    counts: LatentCounts, taxonomy: Taxonomy, base: str, comparison: Mapping[str, Any] | None
) -> list[str]:
    lines = [
        "## Capability breakdown (model diffing)",
        "",
        f"{counts.total} model-specific latents relative to `{base}` ({counts.uncategorized} uncategorized). "
        "Share = percent of these latents in each capability class.",
        "",
    ]
    if comparison is not None:
        reference = comparison["models"]["a"]
        lines += [
            f"| class | latents | share % | {reference} share % | diff (pp) | 95% CI (pp) | q | change |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {row['name']} | {row['count_b']} | {fmt_share(row['share_b'])} | {fmt_share(row['share_a'])} | "
            f"{fmt_diff(row['diff'])} | {fmt_interval(row.get('diff_ci'))} | {fmt_q(row)} | {fmt_change(row)} |"
            for row in comparison["classes"]
        ]
        if comparison.get("significance"):
            lines += [
                "",
                significance_line(comparison) + " (95% CI: Newcombe; q: Fisher exact, Benjamini-Hochberg.)",
            ]
    else:
        lines += ["| class | latents | share % | 95% CI (%) |", "|---|---|---|---|"]
        for class_name in taxonomy.class_names:
            count = counts.classes.get(class_name, 0)
            lines.append(
                f"| {class_name} | {count} | {fmt_share(share_pct(count, counts.total))} | "
                f"{_share_interval(count, counts.total)} |"
            )
        lines += ["", "95% CI: Wilson score interval of the share."]
    lines.append("")
    present = [(code, n) for code, n in counts.categories.items() if n]
    if present:
        lines += ["### Categories", "", "| code | category | latents | share % |", "|---|---|---|---|"]
        for code, count in sorted(present, key=lambda item: -item[1]):
            category = taxonomy.by_code(code)
            lines.append(
                f"| {code} | {category.name} | {count} | {fmt_share(share_pct(count, counts.total))} |"
            )
        lines.append("")
    return lines


def selection_text(thresholds: Mapping[str, Any] | None) -> str:
    """How the analyze stage chose the model-specific latents, in words (its ``thresholds`` block)."""
    if not thresholds:
        return "the latents the analyze stage tagged as specific to this model"
    rule = thresholds.get("ft_only", {})
    selection = thresholds.get("selection") or {}
    if selection.get("mode") == "energy":
        return (
            f"the latents that together carry {selection.get('energy_fraction', 0) * 100:g}% of the pair's "
            f"representational difference (Σ f²·‖d_ft − d_base‖², largest first, at most {selection.get('max_latents')}), "
            "on this model's side (Δnorm > 0.5); no Δnorm cut-off or latent-scaling test was applied"
        )
    if selection.get("mode") == "relative":
        z = thresholds["selection"].get("delta_norm_z")
        return (
            f"latents whose decoder-norm ratio is an outlier of this pair (Δnorm ≥ {rule.get('delta_norm_min', 0):.3f}: "
            f"more than {z:g} robust standard deviations above the median; latent scaling was computed but not used "
            "to select)"
        )
    return (
        f"latents whose decoder norm lives (almost) only in this model (Δnorm ≥ {rule.get('delta_norm_min')}) and "
        f"that latent scaling confirms (ν^ε < {rule.get('nu_eps_max')}, ν^r < {rule.get('nu_r_max')})"
    )


def validate_model_card(text: str) -> Any:
    """Parse with ``huggingface_hub.ModelCard`` (no network); return its ``ModelCardData``.

    Raises ``ValueError`` when the front matter or ``model-index`` is invalid (and when ``huggingface_hub`` is not
    installed, saying so).
    """
    try:
        from huggingface_hub import ModelCard
    except ImportError as error:  # pragma: no cover - huggingface_hub comes with transformers
        raise ValueError("huggingface_hub is not installed; cannot validate the model card") from error
    card = ModelCard(text, ignore_metadata_errors=False)
    if not card.data.eval_results:
        raise ValueError("model card has no eval results in its model-index")
    return card.data


def arena_ratings_for(arena: pd.DataFrame, arena_model: str) -> list[dict[str, Any]]:
    """One model's ratings per category (``rating``, ``rating_style``) from a :func:`fetch_arena` table."""

    name = resolve_model(arena_model, arena["model"].unique(), "the Arena table")
    rows = arena[arena["model"] == name]
    out = []
    for category in dict.fromkeys(rows["category"]):
        subset = rows[rows["category"] == category]
        ratings = {
            bool(style): float(r) for style, r in zip(subset["style_control"], subset["rating"], strict=True)
        }
        out.append({"category": category, "rating": ratings.get(False), "rating_style": ratings.get(True)})
    return out
