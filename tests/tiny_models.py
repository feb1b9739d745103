"""Tiny, download-free models and corpora shared by the whole test suite.

Everything here is built from scratch in well under a second per object, with fixed seeds, so tests are offline and
deterministic:

* :func:`build_tokenizer` — a byte-level BPE tokenizer trained with the ``tokenizers`` library on a built-in word
  list, wrapped in a ``PreTrainedTokenizerFast`` with ``<s>`` (BOS, prepended on every encode), ``</s>`` (EOS),
  ``<pad>`` and a small chat template (``<|user|>…<|end|>``). ``kind="other"`` gives a *different* tokenizer
  (other vocabulary size and merges) for the tokenizer-mismatch tests. Byte-level, so any text round-trips.
* :func:`build_tiny_llama` — a random ``LlamaForCausalLM`` (4 layers, d_model 48 by default) whose vocabulary
  matches the tokenizer.
* :func:`save_tiny_base`, :func:`save_finetune`, :func:`save_other_tokenizer_model`, :func:`save_lora_adapter`,
  :func:`save_tiny_gemma3` — write models with ``save_pretrained`` (tokenizer saved alongside) so they load with
  ``AutoModelForCausalLM.from_pretrained(dir)`` / ``peft`` exactly like a real checkpoint.
* :func:`write_corpus_jsonl` — a JSONL corpus mixing plain-text documents (``{"text": ...}``) and chat records
  (``{"messages": [{"role", "content"}, ...]}``).

The pytest fixtures wrapping these live in ``tests/conftest.py`` (``tiny_base_dir``, ``tiny_ft_dir``, ...).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

# A fixed word list: training text for the tokenizers and the vocabulary of the synthetic corpus.
WORDS: tuple[str, ...] = tuple(
    """
    the a an and or but if then else when while because so of to in on at by for with from about into over under
    cat dog bird fish horse cow sheep mouse lion tiger bear wolf fox rabbit snake frog duck goose owl whale
    red green blue yellow black white orange purple brown grey pink gold silver bright dark light heavy small large
    one two three four five six seven eight nine ten hundred thousand first second last next many few some all none
    run walk jump swim fly sing read write speak think know see hear feel make take give find keep hold open close
    house tree river mountain city road bridge garden forest field ocean island valley desert village castle tower
    book letter word number story song poem question answer idea plan rule law fact truth reason problem solution
    code function class value error test list string loop return print import variable module python compile debug
    happy sad angry calm quick slow early late warm cold new old young ancient modern simple complex strange common
    please thank sorry hello goodbye yes no maybe always never often sometimes today tomorrow yesterday morning night
    """.split()
)

SPECIAL_TOKENS: tuple[str, ...] = (
    "<pad>",
    "<s>",
    "</s>",
    "<|user|>",
    "<|assistant|>",
    "<|system|>",
    "<|end|>",
)

# Renders [{"role": "user", "content": "hi"}] as "<|user|>hi<|end|>\n" (BOS is added by the tokenizer, not here).
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def _training_sentences(seed: int, n: int = 400) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14))) for _ in range(n)]


def build_tokenizer(kind: str = "base", *, add_bos: bool = True) -> PreTrainedTokenizerFast:
    """Byte-level BPE tokenizer with BOS/EOS/PAD and a chat template.

    ``kind="base"`` (vocab 512) is shared by the base model, its fine-tune and the LoRA adapter; ``kind="other"``
    (vocab 384, different training text) is deliberately incompatible. BOS ``<s>`` is prepended by the
    post-processor on every ``tokenizer(text)`` call (``add_special_tokens=True``); the chat template does not
    emit BOS itself. ``add_bos=False`` gives the same vocabulary without the BOS post-processor (like SmolLM2,
    whose tokenizer adds no BOS to plain text).
    """
    if kind not in ("base", "other"):
        raise ValueError(f"kind must be 'base' or 'other', got {kind!r}")
    vocab_size, seed = (512, 0) if kind == "base" else (384, 1)
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    text = _training_sentences(seed)
    if kind == "other":
        text = [s[::-1] for s in text]  # different merges, not just a different size
    backend.train_from_iterator(text, trainer)
    if add_bos:
        bos_id = backend.token_to_id("<s>")
        backend.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos_id)]
        )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>", model_max_length=512
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_llama(
    tokenizer: PreTrainedTokenizerFast, *, seed: int = 0, n_layers: int = 4, d_model: int = 48
) -> LlamaForCausalLM:
    """Random ``LlamaForCausalLM`` (float32, eval mode) with ``len(tokenizer)`` vocabulary entries."""
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=d_model,
        intermediate_size=2 * d_model,
        num_hidden_layers=n_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    return LlamaForCausalLM(config).eval()


def _save(model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, out_dir: str | Path) -> Path:
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def save_tiny_base(out_dir: str | Path, *, seed: int = 0, n_layers: int = 4, d_model: int = 48) -> Path:
    """Write the tiny base model + base tokenizer to ``out_dir`` (a normal HF checkpoint directory)."""
    tokenizer = build_tokenizer("base")
    return _save(
        build_tiny_llama(tokenizer, seed=seed, n_layers=n_layers, d_model=d_model), tokenizer, out_dir
    )


def save_finetune(
    base_dir: str | Path,
    out_dir: str | Path,
    *,
    seed: int = 1,
    scale: float = 0.1,
    layers: tuple[int, ...] | None = None,
) -> Path:
    """A "fine-tune" of the model in ``base_dir``: same tokenizer; every tensor of the chosen decoder layers
    (default: all) gets Gaussian noise of standard deviation ``scale`` × its mean absolute value (a *relative*
    perturbation: 0.1 changes each weight by ~10%). Embeddings and the LM head are left unchanged."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(base_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    generator = torch.Generator().manual_seed(seed)
    chosen = range(len(model.model.layers)) if layers is None else layers
    with torch.no_grad():
        for index in chosen:
            for param in model.model.layers[index].parameters():
                param.add_(scale * param.abs().mean() * torch.randn(param.shape, generator=generator))
    return _save(model, tokenizer, out_dir)


def save_other_tokenizer_model(out_dir: str | Path, *, seed: int = 2) -> Path:
    """A tiny Llama with the incompatible ``kind="other"`` tokenizer (for tokenizer-mismatch errors)."""
    tokenizer = build_tokenizer("other")
    return _save(build_tiny_llama(tokenizer, seed=seed), tokenizer, out_dir)


def save_lora_adapter(base_dir: str | Path, out_dir: str | Path, *, seed: int = 3, rank: int = 4) -> Path:
    """A peft LoRA adapter (q/v/o projections, rank ``rank``) on the model in ``base_dir``.

    ``init_lora_weights=False`` draws both LoRA matrices at random, so base + adapter really differs from the
    base. The directory holds ``adapter_config.json`` (whose ``base_model_name_or_path`` is ``base_dir``),
    ``adapter_model.safetensors`` and the base tokenizer.
    """
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir).eval()
    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        target_modules=["q_proj", "v_proj", "o_proj"],
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, config)
    peft_model.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(base_dir).save_pretrained(out_dir)
    return Path(out_dir)


def save_tiny_gemma3(out_dir: str | Path, *, seed: int = 4, n_layers: int = 4, d_model: int = 48) -> Path:
    """A random ``Gemma3ForCausalLM`` (text only; sliding-window + global layers, scaled embeddings) with the base
    tokenizer, to check that layer hooks work beyond Llama."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    tokenizer = build_tokenizer("base")
    torch.manual_seed(seed)
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=d_model,
        intermediate_size=2 * d_model,
        num_hidden_layers=n_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=d_model // 4,
        max_position_embeddings=512,
        sliding_window=8,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return _save(Gemma3ForCausalLM(config).eval(), tokenizer, out_dir)


def corpus_records(n_text: int = 24, n_chat: int = 8, *, seed: int = 0) -> list[dict]:
    """Deterministic corpus records: ``n_text`` ``{"text": ...}`` documents of 8–40 words, then ``n_chat``
    ``{"messages": [...]}`` conversations (system/user/assistant turns)."""
    rng = random.Random(seed)

    def sentence(lo: int, hi: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))

    records: list[dict] = [{"text": sentence(8, 40)} for _ in range(n_text)]
    for _ in range(n_chat):
        messages = [{"role": "system", "content": "answer " + sentence(2, 5)}] if rng.random() < 0.5 else []
        for _turn in range(rng.randint(1, 2)):
            messages.append({"role": "user", "content": sentence(3, 10) + " ?"})
            messages.append({"role": "assistant", "content": sentence(4, 16)})
        records.append({"messages": messages})
    return records


def write_corpus_jsonl(path: str | Path, n_text: int = 24, n_chat: int = 8, *, seed: int = 0) -> Path:
    """Write :func:`corpus_records` as JSONL (one record per line) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for record in corpus_records(n_text, n_chat, seed=seed):
            handle.write(json.dumps(record) + "\n")
    return path


def tiny_run_config(base: Path, ft: Path, ft2: Path, corpus: Path) -> dict:
    """A run config (as a dict) for the tiny models: base + fine-tunes ``a`` and ``b``, every stage small and offline."""
    return {
        "name": "tiny",
        "base": {"name": "base", "path": str(base)},
        "finetunes": [{"name": "a", "path": str(ft)}, {"name": "b", "path": str(ft2)}],
        "harvest": {
            "layer": 2,
            "batch_size": 8,
            "context_length": 64,
            "progress": False,
            "corpus": {"sources": [{"path": str(corpus)}]},
        },
        "crosscoder": {"preset": "cpu-tiny", "n_latents": 64, "k": 4, "epochs": 2, "batch_size": 128},
        "analyze": {"n_top_examples": 5, "n_per_quantile": 2, "n_negative": 5},
        "annotate": {"annotator": "offline", "n_score": 2},
        "scorecard": {"a": "a", "b": "b"},
    }
