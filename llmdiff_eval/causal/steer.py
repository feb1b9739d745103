"""Behaviour under an intervention: greedy generation with a latent set ablated in the fine-tune (``--ablate``) or
added to the base (``--add``), at every position of the prompt and of each generated token.

The crosscoder needs the *pair* at every token, so the other model runs in lockstep up to layer L on the same
tokens (prompt, then each generated token, with its own KV cache; it stops after block L). The intervened model runs
in full with the edit hooked in after block L (:func:`~llmdiff_eval.causal.forward.edited_layer_output`). Without an
intervention it is the same greedy loop, so ``output_reference`` differs from ``output`` only by the intervention.
Reference: docs/causal.md (``llmdiff-eval steer``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import DynamicCache

from llmdiff_eval.causal.forward import Edit, edited_layer_output
from llmdiff_eval.causal.intervention import Intervention, LatentSet
from llmdiff_eval.causal.measure import firing_masses, probe_batches
from llmdiff_eval.causal.run import pair_crosscoder, pair_specs
from llmdiff_eval.causal.sets import matched_controls, read_model_specific, resolve_selector
from llmdiff_eval.config import RunConfig, load_config
from llmdiff_eval.corpus import resolve_chat_template
from llmdiff_eval.errors import CausalError
from llmdiff_eval.harvest import residual_at_layer
from llmdiff_eval.models import load_models, load_tokenizer, resolve_device
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.utils import atomic_write_text, pair_name

MODES = ("ablate", "add")


class LockstepEdit:
    """One generation's intervention: the partner model's KV cache and the position reached.

    ``mode="ablate"``: the intervened model is the fine-tune, ``h_ft ← h_ft − δ_S``; ``"add"``: it is the base,
    ``h_base ← h_base + δ_S``; ``f`` comes from (partner, own) states of the same tokens. Position 0 is left alone
    when ``skip_first`` (the harvest dropped it, so the crosscoder never saw it)."""

    def __init__(
        self, partner, intervention: Intervention, latents: LatentSet, layer: int, mode: str, skip_first: bool
    ) -> None:
        self.partner, self.intervention, self.latents = partner, intervention, latents
        self.layer, self.mode, self.skip_first = layer, mode, skip_first
        self.cache = DynamicCache(config=partner.config)
        self.position = 0

    def step(self, new_ids: torch.Tensor) -> Edit:
        """The edit for the next forward of the intervened model on ``new_ids`` (1, n)."""
        partner_states = residual_at_layer(self.partner, self.layer, new_ids, None, cache=self.cache)[0]
        first = self.position
        self.position += new_ids.shape[1]

        def edit(own: torch.Tensor) -> torch.Tensor:
            pair = (partner_states, own[0]) if self.mode == "ablate" else (own[0], partner_states)
            delta = self.intervention.delta(self.intervention.encode(*pair), self.latents.latents)
            if self.skip_first and first == 0:
                delta[0] = 0.0
            delta = delta.to(own.dtype)[None]
            return own - delta if self.mode == "ablate" else own + delta

        return edit


@torch.inference_mode()
def generate(
    model,
    prompt_ids: Sequence[int],
    max_new_tokens: int,
    eos_ids: set[int],
    layer: int,
    intervention: LockstepEdit | None = None,
) -> list[int]:
    """Greedy continuation of ``prompt_ids`` (at most ``max_new_tokens``, stopping after an id in ``eos_ids``), with
    ``intervention`` applied after block ``layer`` at every position (None: the plain model)."""
    device = next(model.parameters()).device
    cache = DynamicCache(config=model.config)
    new = torch.tensor([list(prompt_ids)], device=device)
    generated: list[int] = []
    for _ in range(max_new_tokens):
        edit = intervention.step(new) if intervention is not None else None
        with edited_layer_output(model, layer, edit):
            logits = model(input_ids=new, cache=cache, use_cache=True).logits
        token = int(logits[0, -1].argmax())
        generated.append(token)
        if token in eos_ids:
            break
        new = torch.tensor([[token]], device=device)
    return generated


def read_prompts(path: str | os.PathLike) -> list[str]:
    """The ``prompt`` of each line of a JSONL file (blank lines skipped); :class:`CausalError` for a missing or
    empty file or a line that is not ``{"prompt": "..."}``."""
    path = Path(path)
    if not path.is_file():
        raise CausalError(f"prompt file {path} does not exist")
    prompts = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise CausalError(
                f'{path}:{number} is not JSON ({error}); each line must be {{"prompt": "..."}}'
            ) from error
        if (
            not isinstance(record, dict)
            or not isinstance(record.get("prompt"), str)
            or not record["prompt"].strip()
        ):
            raise CausalError(
                f'{path}:{number}: each line must be an object with a non-empty string "prompt"'
            )
        prompts.append(record["prompt"])
    if not prompts:
        raise CausalError(f'prompt file {path} holds no prompts: write one {{"prompt": "..."}} per line')
    return prompts


class Steering:
    """A run directory's pair (base, ``ft``), its crosscoder and its model-specific latents, loaded once to generate
    under several interventions. ``device`` defaults to ``causal.device`` of the run config; the dtype is
    ``harvest.dtype``. ``models``: already loaded models by name (e.g. to share them between pairs)."""

    def __init__(
        self,
        run_dir: str | os.PathLike,
        ft: str,
        device: str | None = None,
        models: dict[str, Any] | None = None,
        config: RunConfig | None = None,
    ) -> None:
        run = RunDir(run_dir)
        if config is None:
            if not run.config.is_file():
                raise CausalError(
                    f"{run.root} has no config.yaml: pass a run directory that `llmdiff-eval run` made"
                )
            config = load_config(run.config)
        self.config, self.run_dir = config, run.root
        base_spec, ft_spec = pair_specs(config, ft)
        self.base, self.ft, self.layer = base_spec.name, ft, config.harvest.layer
        self.device = resolve_device(device or config.causal.device)
        self.intervention = Intervention(
            pair_crosscoder(run.root, self.base, ft, self.layer, str(self.device)), self.device
        )
        pair = pair_name(self.base, ft)
        self.annotations = read_model_specific(run.root, pair) if run.annotations(pair).is_file() else None
        self.tokenizer = load_tokenizer(base_spec)
        self.chat_template = resolve_chat_template(config.harvest.corpus.chat_template, self.tokenizer)
        if not self.chat_template:
            raise CausalError(
                f"the tokenizer of {self.base!r} has no chat template to render the prompts with: set "
                "harvest.corpus.chat_template in the run config"
            )
        self.specs = [base_spec, ft_spec]
        self.loaded = models

    @property
    def models(self) -> dict[str, Any]:
        """The base and the fine-tune, loaded on first use."""
        if self.loaded is None:
            self.loaded = load_models(self.specs, self.device, self.config.harvest.dtype)
        return self.loaded

    @property
    def eos_ids(self) -> set[int]:
        """Token ids that end a reply: the model's generation config's ``eos_token_id`` (one or a list) and the
        tokenizer's EOS."""
        configured = getattr(getattr(self.models[self.ft], "generation_config", None), "eos_token_id", None)
        listed = configured if isinstance(configured, list) else [configured]
        return {int(i) for i in [*listed, self.tokenizer.eos_token_id] if i is not None}

    def latent_set(self, selector: str) -> LatentSet:
        """The latents a selector names (class, category code, ``model-specific`` or ids; see ``resolve_selector``)."""
        return resolve_selector(selector, self.annotations, self.intervention.n_latents)

    def prompt_ids(self, prompt: str) -> list[int]:
        """``prompt`` as one user turn rendered with the chat template and a generation prompt."""
        text = self.tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}],
            chat_template=self.chat_template,
            tokenize=False,
            add_generation_prompt=True,
        )
        bos = self.tokenizer.bos_token
        return list(self.tokenizer(text, add_special_tokens=not (bos and text.startswith(bos)))["input_ids"])

    def control(
        self, latent_set: LatentSet, prompts_ids: Sequence[Sequence[int]], seed: int = 0
    ) -> LatentSet:
        """A random latent set matched to ``latent_set`` (size, and mass per ``causal.control_match`` over the
        prompts' tokens), from outside the model-specific latents; seeded."""
        batches = probe_batches(
            self.models[self.base],
            self.models[self.ft],
            self.layer,
            prompts_ids,
            self.config.causal.batch_size,
            self.tokenizer.pad_token_id,
            self.config.harvest.drop_bos,
            self.device,
        )
        masses = firing_masses(self.intervention, batches, self.config.causal.control_match)
        excluded = set(self.annotations.index) if self.annotations is not None else set()
        rng = np.random.default_rng([seed, 0])
        (control,) = matched_controls(latent_set, masses, excluded, 1, self.config.causal.control_window, rng)
        return control

    def generate(
        self, ids: Sequence[int], latent_set: LatentSet | None, mode: str, max_new_tokens: int
    ) -> str:
        """Greedy reply of the intervened model (the fine-tune for ``ablate``, the base for ``add``) with
        ``latent_set`` (None: without intervention)."""
        if mode not in MODES:
            raise CausalError(f"mode must be one of {list(MODES)}, got {mode!r}")
        own, partner = (self.ft, self.base) if mode == "ablate" else (self.base, self.ft)
        edit = None
        if latent_set is not None and len(latent_set):
            edit = LockstepEdit(
                self.models[partner],
                self.intervention,
                latent_set,
                self.layer,
                mode,
                self.config.harvest.drop_bos,
            )
        tokens = generate(self.models[own], ids, max_new_tokens, self.eos_ids, self.layer, edit)
        return self.tokenizer.decode(tokens, skip_special_tokens=True)


def steer(
    run_dir: str | os.PathLike,
    ft: str,
    selector: str,
    prompts: Sequence[str],
    mode: str = "ablate",
    control: str | None = None,
    max_new_tokens: int = 64,
    device: str | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One record per prompt: ``prompt``, ``output`` (with the intervention), ``output_reference`` (the same model
    without it) and, with ``control="random"``, ``output_control`` (a matched random latent set instead)."""
    if mode not in MODES:
        raise CausalError(f"mode must be one of {list(MODES)} (--ablate or --add), got {mode!r}")
    if control not in (None, "random"):
        raise CausalError(f"control must be 'random' or absent, got {control!r}")
    if not prompts:
        raise CausalError("no prompts to generate from")
    if max_new_tokens < 1:
        raise CausalError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    steering = Steering(run_dir, ft, device)
    latent_set = steering.latent_set(selector)
    prompts_ids = [steering.prompt_ids(prompt) for prompt in prompts]
    control_set = steering.control(latent_set, prompts_ids, seed) if control else None
    records = []
    for prompt, ids in zip(prompts, prompts_ids, strict=True):
        record = {
            "prompt": prompt,
            "output": steering.generate(ids, latent_set, mode, max_new_tokens),
            "output_reference": steering.generate(ids, None, mode, max_new_tokens),
        }
        if control_set is not None:
            record["output_control"] = steering.generate(ids, control_set, mode, max_new_tokens)
        records.append(record)
    return records


def steer_run(
    run_dir: str | os.PathLike,
    ft: str,
    selector: str,
    prompts_file: str | os.PathLike,
    out: str | os.PathLike,
    mode: str = "ablate",
    control: str | None = None,
    max_new_tokens: int = 64,
    device: str | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """:func:`steer` on the prompts of a JSONL file (``{"prompt": ...}`` per line), written to ``out`` (JSONL,
    atomically). Returns the records."""
    records = steer(
        run_dir, ft, selector, read_prompts(prompts_file), mode, control, max_new_tokens, device, seed
    )
    atomic_write_text(out, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
    return records
