"""Dollar prices per model id and the token estimator used for cost estimates before spending.

Prices are US dollars per million tokens (Anthropic list prices, checked 2026-06; override with ``prices=`` or a
``model: {input, output, cache_write, cache_read}`` mapping). The Message Batches API bills every token type at half
price (``BATCH_DISCOUNT``). ``cache_write`` is the 5-minute ephemeral cache write rate (1.25 × input) and
``cache_read`` the cache hit rate (0.1 × input).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from llmdiff_eval.annotate.base import Usage

BATCH_DISCOUNT = 0.5
CHARS_PER_TOKEN = (
    3.5  # conservative for English prose with Claude's tokenizer (code and non-Latin scripts: fewer)
)
MESSAGE_OVERHEAD_TOKENS = 8  # role markers and block framing per message


@dataclass(frozen=True)
class ModelPrice:
    """US dollars per million tokens for one model."""

    input: float
    output: float
    cache_write: float
    cache_read: float

    @classmethod
    def from_input_output(cls, input_usd: float, output_usd: float) -> ModelPrice:
        """Prices with Anthropic's standard cache multipliers (write 1.25 ×, read 0.1 × the input rate)."""
        return cls(input_usd, output_usd, round(input_usd * 1.25, 6), round(input_usd * 0.1, 6))

    def cost(self, usage: Usage, batch: bool = False) -> float:
        """Dollars for ``usage`` (token fields only), at half price for batch requests."""
        dollars = (
            usage.input_tokens * self.input
            + usage.output_tokens * self.output
            + usage.cache_write_tokens * self.cache_write
            + usage.cache_read_tokens * self.cache_read
        ) / 1_000_000
        return dollars * (BATCH_DISCOUNT if batch else 1.0)


DEFAULT_PRICES: dict[str, ModelPrice] = {
    "claude-opus-4-8": ModelPrice.from_input_output(5.0, 25.0),
    "claude-opus-4-7": ModelPrice.from_input_output(5.0, 25.0),
    "claude-opus-4-6": ModelPrice.from_input_output(5.0, 25.0),
    "claude-opus-4-5": ModelPrice.from_input_output(5.0, 25.0),
    "claude-opus-4-1": ModelPrice.from_input_output(15.0, 75.0),
    "claude-sonnet-4-6": ModelPrice.from_input_output(3.0, 15.0),
    "claude-sonnet-4-5": ModelPrice.from_input_output(3.0, 15.0),
    "claude-sonnet-4": ModelPrice.from_input_output(3.0, 15.0),
    "claude-haiku-4-5": ModelPrice.from_input_output(1.0, 5.0),
    "claude-3-opus-20240229": ModelPrice.from_input_output(15.0, 75.0),  # the paper's model (retired)
}


def resolve_price(
    model: str, prices: Mapping[str, ModelPrice | Mapping[str, float]] | None = None
) -> ModelPrice:
    """Price of ``model``: exact id, else the longest table id it starts with (dated snapshots such as
    ``claude-haiku-4-5-20251001`` resolve to ``claude-haiku-4-5``). Unknown models are an error."""
    table: dict[str, ModelPrice] = dict(DEFAULT_PRICES)
    for model_id, price in (prices or {}).items():
        table[model_id] = price if isinstance(price, ModelPrice) else _price_from_mapping(model_id, price)
    if model in table:
        return table[model]
    prefixes = [model_id for model_id in table if model.startswith(model_id + "-")]
    if prefixes:
        return table[max(prefixes, key=len)]
    raise ValueError(
        f"no price known for model {model!r}; pass prices={{{model!r}: ModelPrice(input=..., output=..., "
        f"cache_write=..., cache_read=...)}} (US$ per million tokens). Known: {', '.join(sorted(table))}"
    )


def _price_from_mapping(model_id: str, price: Mapping[str, float]) -> ModelPrice:
    try:
        if "cache_write" in price or "cache_read" in price:
            return ModelPrice(
                float(price["input"]),
                float(price["output"]),
                float(price["cache_write"]),
                float(price["cache_read"]),
            )
        return ModelPrice.from_input_output(float(price["input"]), float(price["output"]))
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"price for {model_id!r} must give numbers 'input' and 'output' (optionally 'cache_write' and "
            f"'cache_read'), US$ per million tokens; got {dict(price)!r}"
        ) from error


def estimate_tokens(text: str) -> int:
    """Estimated Claude tokens of ``text`` (characters / 3.5, rounded up); an upper-leaning guess for prose."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def estimate_request_input_tokens(params: Mapping) -> int:
    """Estimated input tokens of a ``messages.create`` request: system, messages, output schema and framing."""
    return _count_request(params, estimate_tokens)


def request_input_token_bound(params: Mapping) -> int:
    """An upper bound on a request's input tokens: one per UTF-8 byte (a byte-level BPE token covers >= 1 byte)."""
    return _count_request(params, lambda text: len(text.encode("utf-8")))


def _count_request(params: Mapping, count: Callable[[str], int]) -> int:
    system = params.get("system", "")
    if not isinstance(system, str):
        system = "".join(block.get("text", "") for block in system)
    total = count(system)
    for message in params.get("messages", []):
        content = message["content"]
        if not isinstance(content, str):
            content = "".join(block.get("text", "") for block in content)
        total += count(content) + MESSAGE_OVERHEAD_TOKENS
    output_config = params.get("output_config")
    if output_config:
        total += count(json.dumps(output_config))
    return total
