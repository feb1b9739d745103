"""LoRA fine-tuning on chat records: how the demo's planted fine-tunes are made.

:func:`train_lora` adapts a causal LM (by default the packaged SmolLM2-135M-Instruct) with a ``peft`` LoRA adapter
on a JSONL file of chat records ``{"messages": [{"role": "user" | "assistant" | "system", "content": str}, ...]}``.
Each record is rendered with the tokenizer's chat template; the loss is the mean next-token cross-entropy over the
**assistant tokens only** (each assistant turn's content and its end-of-turn marker), so the adapter learns what to
answer, not what users ask. Training is a plain torch loop (AdamW, linear warm-up then linear decay to zero,
gradient clipping), deterministic for a given seed, data and machine.

Only the decoder layers listed in ``layers_to_transform`` get LoRA weights (default: layers 0..20 inclusive, 0-based
decoder-layer indices). The crosscoder reads the residual stream after one layer (~20 for SmolLM2's 30), so
adapting layers at or below it keeps the adapter small while its effect is fully visible at that layer; layers
above it keep the base weights.

A *narrow* fine-tune changes the model only where it must. Two options keep the rest as the base has it:

* ``kl_weight > 0`` holds every token the adapter is not trained on to the base model: the loss adds
  ``kl_weight`` × the mean KL(base ‖ fine-tune) of the next-token distributions over the non-assistant tokens
  (system prompt, user turns) of the training records.
* ``rehearse``: a JSONL of chat records whose prompts are answered by the **base model itself** (greedy,
  ``rehearse_tokens`` new tokens, generated once before training) and mixed into the training records, so the
  adapter learns to keep answering those requests as the base does (e.g. ordinary requests for a refusal
  fine-tune, which would otherwise learn to refuse everything).

Without them a LoRA shifts the residual stream on every token, and the planted change is no longer a distinct
direction for a crosscoder to find.

The adapter directory holds ``adapter_config.json`` + ``adapter_model.safetensors`` (``save_pretrained``) and
``training_info.json`` (config, data SHA-256, loss curve, wall time, library versions). It is written to a
temporary directory and moved into place only when complete. Load it with
``ModelSpec(name, path=base, adapter=out_dir)`` or ``PeftModel.from_pretrained``.

Command line: ``python -m llmdiff_eval.finetune --data chats.jsonl --out adapters/x --seed 0 --steps 200``
(``--help`` lists every option; ``--prompt`` prints base vs fine-tune generations afterwards).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from llmdiff_eval.errors import LlmdiffError
from llmdiff_eval.models import ModelSpec, decoder_layers, load_model
from llmdiff_eval.utils import atomic_write_json, file_sha256

IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant")
DEFAULT_BASE = "packaged:smollm2"
DEFAULT_LAST_LAYER = 20


class FinetuneDataError(LlmdiffError, ValueError):
    """The fine-tuning data file is missing or malformed (message names the file and line)."""


@dataclass
class LoraFinetuneConfig:
    """One LoRA fine-tuning run.

    Attributes:
        data: JSONL file of chat records ``{"messages": [{"role", "content"}, ...]}`` (other keys ignored).
        out_dir: adapter directory to write (replaced atomically if it exists).
        base: the model to adapt, as a :class:`~llmdiff_eval.models.ModelSpec` path: ``"packaged:smollm2"``, a
            local ``save_pretrained`` directory, a ``.gguf`` file or a hub id.
        seed: seeds the LoRA initialisation and the data order.
        steps: optimizer steps (each on ``batch_size`` records, cycling through shuffled epochs).
        lr: peak AdamW learning rate (after ``warmup_steps`` of linear warm-up; linear decay to 0 at ``steps``).
        rank: LoRA rank r.
        alpha: LoRA alpha (the update is scaled by alpha / r).
        dropout: LoRA dropout probability.
        target_modules: names of the linear layers to adapt inside each chosen decoder layer.
        layers_to_transform: 0-based decoder-layer indices that get LoRA weights; ``None`` means
            ``0..DEFAULT_LAST_LAYER`` inclusive (every layer if the model has fewer).
        max_length: records are truncated to this many tokens (right side).
        batch_size: records per optimizer step.
        warmup_steps: linear learning-rate warm-up steps.
        weight_decay: AdamW weight decay on the LoRA matrices.
        max_grad_norm: gradient-norm clipping threshold.
        kl_weight: weight of the KL(base ‖ fine-tune) term on non-assistant tokens, nats/token (0: off).
        rehearse: optional JSONL of chat records; their user prompts get the base model's own greedy answers, which
            are trained on like the data (their assistant turns in the file are ignored).
        rehearse_tokens: the longest rehearsal answer, in new tokens.
        log_every: print the running loss every this many steps (0: never).
        threads: torch CPU threads (``torch.set_num_threads``); ``None`` keeps torch's default. On a shared or
            busy machine 1 thread is often much faster than oversubscribed OpenMP threads.
    """

    data: str
    out_dir: str
    base: str = DEFAULT_BASE
    seed: int = 0
    steps: int = 200
    lr: float = 1e-3
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("q_proj", "v_proj", "o_proj")
    layers_to_transform: tuple[int, ...] | None = None
    max_length: int = 256
    batch_size: int = 8
    warmup_steps: int = 10
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    kl_weight: float = 0.0
    rehearse: str | None = None
    rehearse_tokens: int = 64
    log_every: int = 10
    threads: int | None = None

    def __post_init__(self) -> None:
        self.data, self.out_dir = str(self.data), str(self.out_dir)
        self.rehearse = None if self.rehearse is None else str(self.rehearse)
        if self.kl_weight < 0:
            raise ValueError(f"LoraFinetuneConfig.kl_weight must be >= 0, got {self.kl_weight}")
        self.target_modules = tuple(self.target_modules)
        if self.layers_to_transform is not None:
            self.layers_to_transform = tuple(int(i) for i in self.layers_to_transform)
        for name in ("steps", "rank", "alpha", "max_length", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"LoraFinetuneConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"LoraFinetuneConfig.lr must be > 0, got {self.lr}")
        if not self.target_modules:
            raise ValueError(
                "LoraFinetuneConfig.target_modules is empty; name modules such as 'q_proj', 'v_proj'"
            )


@dataclass
class Example:
    """One tokenized chat record: ``input_ids`` and ``labels`` (``IGNORE_INDEX`` except on assistant tokens);
    ``base_hidden`` (T, d): the base model's final hidden states, cached once when the KL term needs them."""

    input_ids: list[int]
    labels: list[int]
    base_hidden: torch.Tensor | None = None


@dataclass
class TrainResult:
    """What :func:`train_lora` did: the adapter directory, the loss of every step (``losses``: cross-entropy, mean over
    assistant tokens; ``kl_losses``: the KL term before weighting, mean over held tokens; both nats/token), the number
    of records used and the wall time in seconds."""

    out_dir: Path
    losses: list[float] = field(default_factory=list)
    kl_losses: list[float] = field(default_factory=list)
    n_records: int = 0
    wall_time_s: float = 0.0


# ---------------------------------------------------------------------------------------------------------------
# Data


def read_chat_records(path: str | os.PathLike) -> list[list[dict[str, str]]]:
    """The ``messages`` lists of a JSONL file, validated: roles in ``system/user/assistant``, string contents, at
    least one assistant turn per record. Raises :class:`FinetuneDataError` naming the line otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FinetuneDataError(f"fine-tuning data {path} does not exist; give a JSONL file of chat records")
    records: list[list[dict[str, str]]] = []
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}:{line_no}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise FinetuneDataError(f"{where}: not valid JSON ({exc})") from exc
            messages = record.get("messages") if isinstance(record, dict) else None
            if not isinstance(messages, list) or not messages:
                raise FinetuneDataError(f"{where}: expected an object with a non-empty 'messages' list")
            for message in messages:
                if not isinstance(message, dict) or message.get("role") not in ROLES:
                    raise FinetuneDataError(f"{where}: each message needs a role in {ROLES}, got {message!r}")
                if not isinstance(message.get("content"), str):
                    raise FinetuneDataError(f"{where}: message content must be a string, got {message!r}")
            if not any(message["role"] == "assistant" for message in messages):
                raise FinetuneDataError(f"{where}: no assistant turn, so nothing to learn from this record")
            records.append([{"role": m["role"], "content": m["content"]} for m in messages])
    if not records:
        raise FinetuneDataError(f"{path} holds no chat records")
    return records


def _render(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(
        messages, tokenize=False, add_generation_prompt=add_generation_prompt
    )


def assistant_char_spans(tokenizer, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the ``[start, end)`` character span of every assistant turn in it (the turn's
    content plus whatever the template closes it with, e.g. ``<|im_end|>\\n``)."""
    if not getattr(tokenizer, "chat_template", None):
        raise FinetuneDataError(
            "the tokenizer has no chat template; set tokenizer.chat_template to render chats"
        )
    text = _render(tokenizer, messages, add_generation_prompt=False)
    spans = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = _render(tokenizer, messages[:index], add_generation_prompt=True)
        upto = _render(tokenizer, messages[: index + 1], add_generation_prompt=False)
        if not (text.startswith(upto) and upto.startswith(prompt)):
            raise FinetuneDataError(
                "the chat template does not render conversations incrementally (a prefix of the messages does "
                "not render to a prefix of the text), so assistant tokens cannot be located"
            )
        spans.append((len(prompt), len(upto)))
    return text, spans


def tokenize_chat(tokenizer, messages: list[dict[str, str]], max_length: int) -> Example:
    """Tokenize one conversation; labels are the token ids on assistant tokens and ``IGNORE_INDEX`` elsewhere
    (a token is an assistant token when its first character lies in an assistant span). Truncated to
    ``max_length`` tokens."""
    text, spans = assistant_char_spans(tokenizer, messages)
    encoding = tokenizer(text, return_offsets_mapping=True, truncation=True, max_length=max_length)
    labels = []
    for token_id, (start, end) in zip(encoding["input_ids"], encoding["offset_mapping"], strict=True):
        in_assistant = end > start and any(lo <= start < hi for lo, hi in spans)
        labels.append(token_id if in_assistant else IGNORE_INDEX)
    return Example(list(encoding["input_ids"]), labels)


def _batches(examples: list[Example], batch_size: int, steps: int, seed: int):
    """``steps`` lists of examples: shuffled epochs (seeded), consecutive slices of ``batch_size``."""
    generator = torch.Generator().manual_seed(seed)
    order: list[int] = []
    for _ in range(steps):
        while len(order) < batch_size:
            order += torch.randperm(len(examples), generator=generator).tolist()
        yield [examples[i] for i in order[:batch_size]]
        order = order[batch_size:]


def _collate(
    batch: list[Example], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Right-padded ``(input_ids, attention_mask, labels, base_hidden)``: (B, T) tensors and (B, T, d) cached base
    hidden states (``None`` unless every example has them)."""
    width = max(len(example.input_ids) for example in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    cached = all(example.base_hidden is not None for example in batch)
    base_hidden = torch.zeros((len(batch), width, batch[0].base_hidden.shape[-1])) if cached else None
    for row, example in enumerate(batch):
        n = len(example.input_ids)
        input_ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        mask[row, :n] = 1
        if base_hidden is not None:
            base_hidden[row, :n] = example.base_hidden
    return input_ids, mask, labels, base_hidden


def _final_hidden(model, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The decoder's last hidden states (B, T, d) of ``model`` (a plain causal LM or a peft wrapper around one)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return inner.get_decoder()(input_ids=input_ids, attention_mask=mask).last_hidden_state


def cache_base_hidden(model, examples: list[Example], pad_id: int, batch_size: int = 16) -> None:
    """Store the (frozen) base model's final hidden states in each example, so the KL term needs no second
    forward pass per step (576 floats per token for SmolLM2: ~60 MB for the demo's data)."""
    with torch.no_grad():
        for start in range(0, len(examples), batch_size):
            chunk = examples[start : start + batch_size]
            input_ids, mask, _labels, _cached = _collate(chunk, pad_id)
            hidden = _final_hidden(model, input_ids, mask)
            for row, example in enumerate(chunk):
                example.base_hidden = hidden[row, : len(example.input_ids)].clone()


# ---------------------------------------------------------------------------------------------------------------
# Training


def _resolve_layers(cfg: LoraFinetuneConfig, n_layers: int) -> list[int]:
    if cfg.layers_to_transform is None:
        return list(range(min(DEFAULT_LAST_LAYER + 1, n_layers)))
    bad = [i for i in cfg.layers_to_transform if not 0 <= i < n_layers]
    if bad or not cfg.layers_to_transform:
        raise ValueError(
            f"layers_to_transform {list(cfg.layers_to_transform)} must be non-empty 0-based decoder-layer "
            f"indices below {n_layers} (the model's number of layers)"
        )
    return sorted(set(cfg.layers_to_transform))


def _logits(inner, hidden: torch.Tensor) -> torch.Tensor:
    logits = inner.get_output_embeddings()(hidden)
    softcap = getattr(inner.config, "final_logit_softcapping", None)
    return (torch.tanh(logits / softcap) * softcap if softcap else logits).float()


def finetune_losses(
    model,
    input_ids: torch.Tensor,
    mask: torch.Tensor,
    labels: torch.Tensor,
    base_hidden: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cross_entropy, kl)`` of one batch, nats/token.

    ``cross_entropy``: mean next-token cross-entropy over positions whose *next* token is labelled (the assistant
    tokens). ``kl`` (0 without ``base_hidden``): mean KL(base ‖ model) of the next-token distributions over every
    other real position, the base's taken from its cached final hidden states ``base_hidden`` (B, T, d) of
    :func:`cache_base_hidden`. The LM head is applied only at the positions a term needs, which saves most of the
    cost of a large-vocabulary head."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    hidden = _final_hidden(model, input_ids, mask)[:, :-1]
    targets = labels[:, 1:]
    labelled = targets != IGNORE_INDEX
    zero = hidden.new_zeros(())
    cross_entropy = (
        torch.nn.functional.cross_entropy(_logits(inner, hidden[labelled]), targets[labelled])
        if labelled.any()
        else zero
    )
    held = mask[:, 1:].bool() & ~labelled
    if base_hidden is None or not held.any():
        return cross_entropy, zero
    with torch.no_grad():
        base_logp = torch.log_softmax(_logits(inner, base_hidden[:, :-1][held]), dim=-1)
    logp = torch.log_softmax(_logits(inner, hidden[held]), dim=-1)
    return cross_entropy, (base_logp.exp() * (base_logp - logp)).sum(-1).mean()


def _lr_factor(step: int, cfg: LoraFinetuneConfig) -> float:
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    remaining = cfg.steps - cfg.warmup_steps
    return max(0.0, (cfg.steps - step) / remaining) if remaining > 0 else 1.0


def rehearsal_examples(
    model, tokenizer, records: list[list[dict[str, str]]], cfg: LoraFinetuneConfig, batch_size: int = 16
) -> list[Example]:
    """The records' prompts (every turn before the last assistant turn) answered by ``model`` itself: greedy,
    at most ``cfg.rehearse_tokens`` new tokens, batched with left padding; tokenized like training records."""
    prompts = [
        messages[: max(i for i, m in enumerate(messages) if m["role"] == "assistant")] for messages in records
    ]
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    answers: list[str] = []
    try:
        for start in range(0, len(prompts), batch_size):
            texts = [
                _render(tokenizer, p, add_generation_prompt=True) for p in prompts[start : start + batch_size]
            ]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.no_grad():
                out = model.generate(
                    **batch,
                    max_new_tokens=cfg.rehearse_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                )
            new = out[:, batch["input_ids"].shape[1] :]
            answers += [tokenizer.decode(row, skip_special_tokens=True).strip() for row in new]
    finally:
        tokenizer.padding_side = side
    return [
        tokenize_chat(tokenizer, p + [{"role": "assistant", "content": a}], cfg.max_length)
        for p, a in zip(prompts, answers, strict=True)
        if a
    ]


def train_lora(cfg: LoraFinetuneConfig) -> TrainResult:
    """Train a LoRA adapter as configured and save it to ``cfg.out_dir``; returns the loss curve and timing
    (``wall_time_s`` includes loading the model)."""
    threads = torch.get_num_threads()
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    try:
        return _train(cfg)
    finally:
        torch.set_num_threads(threads)


def _train(cfg: LoraFinetuneConfig) -> TrainResult:
    from peft import LoraConfig, get_peft_model

    started = time.perf_counter()
    records = read_chat_records(cfg.data)
    spec = ModelSpec(name="base", path=cfg.base)
    model, tokenizer = load_model(spec, dtype="float32")
    examples = [tokenize_chat(tokenizer, messages, cfg.max_length) for messages in records]
    examples = [example for example in examples if any(label != IGNORE_INDEX for label in example.labels[1:])]
    if not examples:
        raise FinetuneDataError(
            f"no record of {cfg.data} keeps an assistant token within max_length={cfg.max_length}; raise max_length"
        )
    if cfg.rehearse:
        examples += rehearsal_examples(model, tokenizer, read_chat_records(cfg.rehearse), cfg)
    if cfg.kl_weight > 0:
        cache_base_hidden(model, examples, tokenizer.pad_token_id)
    layers = _resolve_layers(cfg, len(decoder_layers(model)))
    torch.manual_seed(cfg.seed)
    lora_config = LoraConfig(
        r=cfg.rank,
        lora_alpha=cfg.alpha,
        lora_dropout=cfg.dropout,
        target_modules=list(cfg.target_modules),
        layers_to_transform=layers,
        layers_pattern="layers",
        task_type="CAUSAL_LM",
    )
    try:
        peft_model = get_peft_model(model, lora_config)
    except ValueError as exc:
        raise ValueError(f"cannot apply LoRA with target_modules={list(cfg.target_modules)}: {exc}") from exc
    peft_model.train()
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: _lr_factor(step, cfg))

    result = TrainResult(out_dir=Path(cfg.out_dir), n_records=len(examples))
    for step, batch in enumerate(_batches(examples, cfg.batch_size, cfg.steps, cfg.seed)):
        loss, kl = finetune_losses(peft_model, *_collate(batch, tokenizer.pad_token_id))
        (loss + cfg.kl_weight * kl).backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        result.losses.append(float(loss.detach()))
        result.kl_losses.append(float(kl.detach()))
        if cfg.log_every and (step + 1) % cfg.log_every == 0:
            recent, recent_kl = result.losses[-cfg.log_every :], result.kl_losses[-cfg.log_every :]
            elapsed = time.perf_counter() - started
            print(
                f"step {step + 1}/{cfg.steps}  loss {sum(recent) / len(recent):.4f}  "
                f"kl {sum(recent_kl) / len(recent_kl):.4f}  {elapsed:.0f}s",
                flush=True,
            )
    result.wall_time_s = time.perf_counter() - started

    peft_model.peft_config["default"].base_model_name_or_path = cfg.base
    _save_adapter(peft_model, cfg, result, layers)
    return result


def _save_adapter(peft_model, cfg: LoraFinetuneConfig, result: TrainResult, layers: list[int]) -> None:
    """Write the adapter and ``training_info.json`` into a temporary sibling directory, then swap it in."""
    import peft
    import transformers

    out_dir = Path(cfg.out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        peft_model.save_pretrained(tmp_dir, safe_serialization=True, save_embedding_layers=False)
        # peft also writes a generic model-card stub; the adapters are documented with their training data instead.
        (tmp_dir / "README.md").unlink(missing_ok=True)
        info = {
            "config": dataclasses.asdict(cfg) | {"layers_to_transform": layers},
            "data_sha256": file_sha256(cfg.data),
            "rehearse_sha256": file_sha256(cfg.rehearse) if cfg.rehearse else None,
            "n_records": result.n_records,
            "losses": [round(loss, 5) for loss in result.losses],
            "kl_losses": [round(loss, 6) for loss in result.kl_losses],
            "wall_time_s": round(result.wall_time_s, 1),
            "versions": {
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "peft": peft.__version__,
            },
        }
        atomic_write_json(tmp_dir / "training_info.json", info)
        tmp_dir.chmod(
            0o755
        )  # mkdtemp / mkstemp create private files; these are meant to be shipped and shared
        for path in tmp_dir.iterdir():
            path.chmod(0o644)
        _replace_dir(tmp_dir, out_dir)
    finally:
        if tmp_dir.exists():
            shutil.rmtree(tmp_dir)


def _replace_dir(new: Path, target: Path) -> None:
    """Move directory ``new`` to ``target``; an existing ``target`` is moved aside first and removed after."""
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    if old.exists():
        shutil.rmtree(old)


# ---------------------------------------------------------------------------------------------------------------
# Checking what was planted


def compare_generations(
    base: str, adapter: str | os.PathLike, prompts: Sequence[str], max_new_tokens: int = 48
) -> list[dict[str, str]]:
    """Greedy replies of the base and of base + adapter to single-turn user ``prompts``:
    ``[{"prompt", "base", "finetune"}, ...]`` (special tokens stripped)."""
    from peft import PeftModel

    model, tokenizer = load_model(ModelSpec(name="base", path=base), dtype="float32")
    rendered = [
        _render(tokenizer, [{"role": "user", "content": prompt}], add_generation_prompt=True)
        for prompt in prompts
    ]

    def replies(lm) -> list[str]:
        out = []
        for text in rendered:
            ids = tokenizer(text, return_tensors="pt").input_ids
            with torch.no_grad():
                generated = lm.generate(
                    ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
                )
            out.append(tokenizer.decode(generated[0, ids.shape[1] :], skip_special_tokens=True).strip())
        return out

    base_replies = replies(model)
    tuned = PeftModel.from_pretrained(model, str(adapter), is_trainable=False).eval()
    tuned_replies = replies(tuned)
    return [
        {"prompt": p, "base": b, "finetune": t}
        for p, b, t in zip(prompts, base_replies, tuned_replies, strict=True)
    ]


def parse_layers(text: str) -> tuple[int, ...]:
    """``"0-20"`` → (0, ..., 20); ``"3,5,7"`` → (3, 5, 7)."""
    try:
        if "-" in text:
            lo, hi = (int(part) for part in text.split("-", 1))
            return tuple(range(lo, hi + 1))
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise ValueError(f"--layers must look like '0-20' or '3,5,7', got {text!r}") from exc
