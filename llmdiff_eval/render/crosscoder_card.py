"""The model card (``README.md``) of an exported crosscoder: what was diffed, at which layer, how activations are
normalized, how it was trained and how well it reconstructs, what its latents are, which files hold what, and how to
load it with SAE-Lens. Pure: facts in, text out; :func:`validate_crosscoder_card` parses it with
``huggingface_hub.ModelCard``. Reference: docs/export.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from huggingface_hub import ModelCard

TAGS = ["sae_lens", "crosscoder", "model-diffing", "llmdiff-eval", "mechanistic-interpretability"]

FILE_DESCRIPTIONS = {
    "cfg.json": "SAE-Lens config (architecture `batchtopk_crosscoder`, shapes, normalization, training facts)",
    "sae_weights.safetensors": "weights: W_enc (2, d, F), b_enc (F), W_dec (F, 2, d), b_dec (2, d), threshold",
    "sparsity.safetensors": "SAE-Lens feature sparsity",
    "training_log.jsonl": "training metrics, one JSON line per logged step",
    "latents.parquet": "one row per latent: delta_norm, cos_sim, nu_eps, nu_r, freq, max_act, diff_energy, tag",
    "annotations.parquet": "the model-specific latents: label, description, confidence, category, detection score",
    "logit_lens.parquet": "tokens each tagged latent's fine-tune-minus-base decoder direction promotes / suppresses",
}


@dataclass
class CrosscoderFacts:
    """What the card says about one exported crosscoder.

    ``cfg``: the crosscoder's ``cfg.json`` (its ``metadata.llmdiff_eval`` holds the pair, layer, model specs,
    normalization and training settings); ``last_log``: the last line of ``training_log.jsonl`` (None if absent);
    ``tags``: latents per analyze tag; ``thresholds``: the tag rules; ``classes``: annotated latents per capability
    class (empty without annotations); ``files``: the file names of the exported folder; ``folder``: its name in the
    repository (the pair); ``repo_id``: where it is published (None: a placeholder in the loading example).
    """

    cfg: Mapping[str, Any]
    folder: str
    files: Sequence[str]
    last_log: Mapping[str, Any] | None = None
    tags: Mapping[str, int] = field(default_factory=dict)
    thresholds: Mapping[str, Any] | None = None
    classes: Mapping[str, int] = field(default_factory=dict)
    repo_id: str | None = None


def _facts(cfg: Mapping[str, Any]) -> dict[str, Any]:
    return dict((cfg.get("metadata") or {}).get("llmdiff_eval") or {})


def _source(spec: Mapping[str, Any] | None) -> str:
    if not spec:
        return "?"
    text = f"`{spec.get('path')}`"
    if spec.get("gguf_file"):
        text += f" (GGUF `{spec['gguf_file']}`)"
    if spec.get("adapter"):
        text += f" + LoRA adapter `{spec['adapter']}`"
    return text


def _hub_ids(specs: Mapping[str, Mapping[str, Any]], hub_ids: Mapping[str, str | None]) -> list[str]:
    return [hub for role in ("base", "ft") if (hub := hub_ids.get(role)) and specs.get(role)]


def crosscoder_card(facts: CrosscoderFacts, hub_ids: Mapping[str, str | None] | None = None) -> str:
    """The card text: YAML front matter (``library_name: saelens``, tags, ``base_model`` = the two models' hub ids
    when they are hub models, given as ``hub_ids`` ``{"base": ..., "ft": ...}``) and Markdown sections."""
    info = _facts(facts.cfg)
    pair = info.get("pair") or {}
    specs = info.get("model_specs") or {}
    training = info.get("training") or {}
    normalization = info.get("normalization") or {}
    base, ft, layer = pair.get("base", "?"), pair.get("ft", "?"), info.get("layer", "?")
    metadata: dict[str, Any] = {"library_name": "saelens", "tags": TAGS}
    base_models = _hub_ids(specs, hub_ids or {})
    if base_models:
        metadata["base_model"] = base_models
    front = yaml.safe_dump(metadata, sort_keys=False, allow_unicode=True)
    repo = facts.repo_id or "ORG/REPO"
    scale = normalization.get("scale") or facts.cfg.get("norm_scale") or [1.0, 1.0]
    lines = [
        f"---\n{front}---",
        "",
        f"# Crosscoder: `{base}` vs `{ft}`, residual stream after layer {layer}",
        "",
        f"A two-model BatchTopK crosscoder trained by [llmdiff-eval](https://arxiv.org/abs/2509.18792) on paired "
        f"residual-stream activations of `{base}` (model 0, the base) and `{ft}` (model 1, the fine-tune) after "
        f"decoder layer {layer} (0-based), on the same tokens. It is an SAE-Lens architecture "
        f"(`{facts.cfg.get('architecture')}`), saved in SAE-Lens's on-disk layout in the folder `{facts.folder}/`. "
        "Latents whose decoder lives (almost) only in the fine-tune are what the fine-tune added.",
        "",
        "## Models",
        "",
        "| index | role | name | source |",
        "|---|---|---|---|",
        f"| 0 | base | `{base}` | {_source(specs.get('base'))} |",
        f"| 1 | fine-tune | `{ft}` | {_source(specs.get('ft'))} |",
        "",
        "## Architecture",
        "",
        f"d = {facts.cfg.get('d_in')} per model, F = {facts.cfg.get('d_sae')} latents, k = {facts.cfg.get('k')} "
        "(BatchTopK during training; at inference a latent is kept where f_j · s_j > threshold, s_j = Σ_m "
        "‖W_dec[j, m]‖). `f = ReLU(Σ_m x_m W_enc[m] + b_enc)`, `x̂_m = f W_dec[:, m] + b_dec[m]`.",
        "",
        "## Normalization",
        "",
        f"Each model's activations are scaled separately before encoding: `x_norm[:, m] = x_raw[:, m] · scale[m]` "
        f"with scale = [{', '.join(f'{float(v):.6g}' for v in scale)}] (kind `{normalization.get('kind') or facts.cfg.get('normalization')}`"
        "). `sae.encode` takes normalized `(B, 2, d)` input — use `sae.normalize(x_raw)`; `sae.decode` returns "
        "normalized reconstructions (`sae.denormalize` maps them back). Δnorm and the decoder directions depend on "
        "this choice.",
        "",
        "## Training",
        "",
    ]
    keys = ("n_latents", "k", "lr", "batch_size", "epochs", "seed", "lr_schedule", "aux_coefficient", "dtype")
    lines += [
        f"{info.get('n_tokens', '?')} token pairs, {info.get('total_steps', '?')} steps. Settings: "
        + ", ".join(f"{key} = {training[key]}" for key in keys if key in training)
        + ".",
        "",
    ]
    if facts.last_log:
        log = facts.last_log
        lines += [
            "| at the end of training | base | fine-tune |",
            "|---|---|---|",
            f"| explained variance | {_fmt(log.get('explained_variance_base'))} | "
            f"{_fmt(log.get('explained_variance_ft'))} |",
            "",
            f"L0 = {_fmt(log.get('l0'), 2)} active latents per token, {log.get('dead_latents', '?')} dead latents "
            f"(step {log.get('step', '?')}).",
            "",
        ]
    lines += _latent_lines(facts)
    lines += [
        "## Files",
        "",
        "| file | contents |",
        "|---|---|",
        *[f"| `{facts.folder}/{name}` | {FILE_DESCRIPTIONS.get(name, '')} |" for name in facts.files],
        "",
        "## How to load",
        "",
        "The architecture is registered with SAE-Lens by llmdiff-eval (`pip install llmdiff-eval`):",
        "",
        "```python",
        "import llmdiff_eval.crosscoder  # registers the batchtopk_crosscoder architecture with SAE-Lens",
        "from sae_lens import SAE",
        "",
        f'sae = SAE.load_from_disk("{facts.folder}")          # a local copy of the folder',
        f'sae = SAE.from_pretrained("{repo}", "{facts.folder}")  # from the Hugging Face Hub',
        "f = sae.encode(sae.normalize(x_raw))  # x_raw: (B, 2, d) = [base, fine-tune] residuals after layer "
        f"{layer}",
        "```",
        "",
        "Orientation: model index 0 is the base, 1 the fine-tune; `delta_norm` = ½((‖d^ft‖ − ‖d^base‖)/max + 1), "
        "1 = only in the fine-tune.",
        "",
    ]
    return "\n".join(lines)


def _latent_lines(facts: CrosscoderFacts) -> list[str]:
    if not facts.tags:
        return []
    counts = ", ".join(f"{tag}: {n}" for tag, n in facts.tags.items())
    selection = ((facts.thresholds or {}).get("selection") or {}).get("mode")
    lines = ["## Latents", "", f"Tags ({selection or 'analyze'} selection): {counts}.", ""]
    if facts.classes:
        lines += [
            "Annotated model-specific latents per capability class:",
            "",
            "| class | latents |",
            "|---|---|",
            *[f"| {name} | {n} |" for name, n in facts.classes.items()],
            "",
        ]
    return lines


def _fmt(value: Any, decimals: int = 4) -> str:
    return "?" if value is None else f"{float(value):.{decimals}f}"


def validate_crosscoder_card(text: str) -> Any:
    """Parse with ``huggingface_hub.ModelCard`` (offline); return its ``ModelCardData``; ``ValueError`` if invalid."""
    return ModelCard(text, ignore_metadata_errors=False).data
