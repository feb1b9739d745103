"""Prompts, JSON schemas and answer validation for the Claude explainer, categorizer and detection judge.

The wording is ours; the explainer covers the four asks of the paper's annotation prompt (Boughorbel et al. 2025,
Appendix B.1): common patterns, a 1–5 word label, a 2–3 sentence description, a confidence with its reason.
Bump ``PROMPT_VERSION`` whenever a prompt or schema changes: it is part of the annotation cache key.
"""

from __future__ import annotations

import json
import re
from typing import Any

from llmdiff_eval.annotate.base import CONFIDENCE_LEVELS, Explanation
from llmdiff_eval.taxonomy import Taxonomy

PROMPT_VERSION = "explain-v1+categorize-v1"
JUDGE_PROMPT_VERSION = "detect-v1"
MAX_CONTEXT_CHARS = (
    700  # one context shown to a model is cut to this many characters (≈ 32–64 tokens of text)
)
MARK = re.compile(r"<<(.*?)>>", re.DOTALL)

EXPLAIN_SYSTEM = """\
You interpret features of a language model. A sparse dictionary (a crosscoder) was trained on the model's internal \
activations; each of its features, called a latent, is active on some tokens of some texts. You will see excerpts on \
which one latent is most active. In every excerpt the tokens where the latent is active are wrapped in double angle \
brackets, <<like this>>; the rest of the excerpt is context.

Study the excerpts, paying most attention to the marked tokens and the words right around them, and answer with:
1. patterns: the regularities the excerpts share: topics, concepts, kinds of request or reply, phrasings, token \
types, languages, formatting. A few short items.
2. label: a name for the latent of one to five words.
3. description: two or three sentences saying what the latent detects or stands for, concrete enough that a reader \
could predict from it which new texts would activate it.
4. confidence: "low", "medium" or "high", with confidence_reason: one sentence on why, for example how consistently \
the excerpts fit your reading.

Prefer a specific reading ("refusals that cite safety policy") over a generic one ("chat text"). If the excerpts \
share nothing you can name, say so in the description and answer with low confidence. Reply with the JSON object only.\
"""

CATEGORIZE_SYSTEM_TEMPLATE = """\
You sort interpreted features of a language model into a fixed taxonomy of capabilities. Each feature comes with a \
short label, a description of what it detects, and the patterns seen in its activating texts.

The taxonomy, by class (a capital letter) and category (code, name and description):
{taxonomy}

Choose exactly one category code for the feature: the category whose capability the feature most directly serves. \
When several fit, prefer the more specific one. Reply with the JSON object only: the code and a one-sentence reason.\
"""

JUDGE_SYSTEM = """\
You test descriptions of language-model features. A feature (a latent of a sparse dictionary trained on a model's \
activations) is described in words; you then see numbered text excerpts. Some excerpts are ones the feature is \
strongly active on, the others are random text it is not active on; any mix is possible, including all or none.

For every excerpt decide whether the described feature would be active somewhere in it. Judge only from the \
description and the text. Reply with the JSON object only, with one verdict per excerpt number.\
"""

EXPLAIN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "patterns": {"type": "array", "items": {"type": "string"}},
        "label": {"type": "string"},
        "description": {"type": "string"},
        "confidence": {"type": "string", "enum": list(CONFIDENCE_LEVELS)},
        "confidence_reason": {"type": "string"},
    },
    "required": ["patterns", "label", "description", "confidence", "confidence_reason"],
    "additionalProperties": False,
}

JUDGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdicts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"excerpt": {"type": "integer"}, "active": {"type": "boolean"}},
                "required": ["excerpt", "active"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["verdicts"],
    "additionalProperties": False,
}


class InvalidAnswer(ValueError):
    """A model answer that is not valid JSON or breaks the schema; the message is shown to the model."""


def categorize_schema(taxonomy: Taxonomy) -> dict[str, Any]:
    """Schema whose ``code`` is restricted to the taxonomy's category codes (enum)."""
    return {
        "type": "object",
        "properties": {"code": {"type": "string", "enum": taxonomy.codes}, "reason": {"type": "string"}},
        "required": ["code", "reason"],
        "additionalProperties": False,
    }


def output_config(schema: dict[str, Any]) -> dict[str, Any]:
    """``output_config`` for ``messages.create``: the answer must be JSON matching ``schema``."""
    return {"format": {"type": "json_schema", "schema": schema}}


def cached_system(text: str) -> list[dict[str, Any]]:
    """A system prompt as one text block marked for prompt caching (ephemeral, 5 minutes)."""
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]


def categorize_system(taxonomy: Taxonomy) -> str:
    return CATEGORIZE_SYSTEM_TEMPLATE.format(taxonomy=taxonomy.to_prompt_text())


def clip(text: str, limit: int = MAX_CONTEXT_CHARS) -> str:
    """``text`` cut to ``limit`` characters (an ellipsis marks the cut); whitespace runs collapsed."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def strip_marks(text: str) -> str:
    """``text`` with the ``<<``/``>>`` activation marks removed (what a judge may see)."""
    return MARK.sub(r"\1", text)


def explain_user_message(contexts: list[str]) -> str:
    blocks = [f"Excerpt {number}:\n{clip(context)}" for number, context in enumerate(contexts, start=1)]
    return "Excerpts on which the latent is most active, strongest first:\n\n" + "\n\n".join(blocks)


def categorize_user_message(explanation: Explanation) -> str:
    patterns = "\n".join(f"- {pattern}" for pattern in explanation.patterns)
    return f"Label: {explanation.label}\nDescription: {explanation.description}\nPatterns:\n{patterns}"


def judge_user_message(description: str, contexts: list[str]) -> str:
    blocks = [f"Excerpt {number}:\n{clip(context)}" for number, context in enumerate(contexts, start=1)]
    return f"Feature description: {description}\n\n" + "\n\n".join(blocks)


def corrective_message(problem: str) -> str:
    return (
        f"That answer could not be used: {problem}. Reply again with only a JSON object that follows the required "
        "schema exactly."
    )


def _load_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidAnswer(f"the reply is not valid JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(value, dict):
        raise InvalidAnswer(f"the reply must be a JSON object, got {type(value).__name__}")
    return value


def _require_keys(value: dict[str, Any], schema: dict[str, Any]) -> None:
    missing = [key for key in schema["required"] if key not in value]
    extra = [key for key in value if key not in schema["properties"]]
    if missing or extra:
        raise InvalidAnswer(
            f"missing keys {missing} / unexpected keys {extra}; required keys: {schema['required']}"
        )


def parse_explanation(text: str) -> Explanation:
    """Validate an explainer answer; :class:`InvalidAnswer` says what is wrong."""
    value = _load_object(text)
    _require_keys(value, EXPLAIN_SCHEMA)
    patterns = value["patterns"]
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise InvalidAnswer("'patterns' must be a list of strings")
    for key in ("label", "description", "confidence_reason"):
        if not isinstance(value[key], str) or not value[key].strip():
            raise InvalidAnswer(f"{key!r} must be a non-empty string")
    n_words = len(value["label"].split())
    if n_words > 5:
        raise InvalidAnswer(f"'label' has {n_words} words; it must have one to five words")
    confidence = value["confidence"]
    if confidence not in CONFIDENCE_LEVELS:
        raise InvalidAnswer(f"'confidence' is {confidence!r}; it must be one of {list(CONFIDENCE_LEVELS)}")
    return Explanation(
        patterns=[p.strip() for p in patterns if p.strip()],
        label=value["label"].strip(),
        description=" ".join(value["description"].split()),
        confidence=confidence,
        confidence_reason=value["confidence_reason"].strip(),
    )


def parse_category(text: str, taxonomy: Taxonomy) -> str:
    """Validate a categorizer answer and return the category code."""
    value = _load_object(text)
    _require_keys(value, categorize_schema(taxonomy))
    code = value["code"]
    if code not in taxonomy.codes:
        raise InvalidAnswer(
            f"{code!r} is not a category code of the taxonomy; use one of: {', '.join(taxonomy.codes)}"
        )
    return code


def parse_verdicts(text: str, n_contexts: int) -> list[bool]:
    """Validate a judge answer: exactly one boolean verdict for each excerpt number 1..n."""
    value = _load_object(text)
    _require_keys(value, JUDGE_SCHEMA)
    verdicts = value["verdicts"]
    if not isinstance(verdicts, list):
        raise InvalidAnswer("'verdicts' must be a list")
    by_number: dict[int, bool] = {}
    for verdict in verdicts:
        if not isinstance(verdict, dict) or not isinstance(verdict.get("excerpt"), int):
            raise InvalidAnswer(
                "each verdict must be an object with an integer 'excerpt' and a boolean 'active'"
            )
        if not isinstance(verdict.get("active"), bool):
            raise InvalidAnswer(f"verdict for excerpt {verdict['excerpt']} has no boolean 'active'")
        by_number[verdict["excerpt"]] = verdict["active"]
    expected = set(range(1, n_contexts + 1))
    if set(by_number) != expected or len(verdicts) != n_contexts:
        raise InvalidAnswer(
            f"give exactly one verdict for each excerpt 1 to {n_contexts}, got {sorted(by_number)}"
        )
    return [by_number[number] for number in range(1, n_contexts + 1)]


def message_text(message: Any) -> str:
    """The concatenated text blocks of an SDK ``Message`` (structured output arrives as one text block)."""
    return "".join(
        getattr(block, "text", "") for block in message.content if getattr(block, "type", "") == "text"
    )
