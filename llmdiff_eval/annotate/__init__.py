"""Annotate and categorize model-specific latents: Claude (structured output, prompt caching, Message Batches) or
offline sentence embeddings; detection scoring; SQLite cache. Reference: docs/annotate.md."""

from llmdiff_eval.annotate.base import (
    AnnotationError,
    AnnotationIncompleteError,
    AnnotationResult,
    Annotator,
    Budget,
    BudgetExceededError,
    Explanation,
    Judge,
    Usage,
)
from llmdiff_eval.annotate.claude import DEFAULT_MODEL, ClaudeAnnotator, ClaudeJudge
from llmdiff_eval.annotate.core import (
    COLUMNS,
    AnnotateConfig,
    AnnotationPlan,
    annotate,
    annotate_latents,
    annotate_pair,
    annotator_identity,
    make_annotator,
    plan_annotation,
    plan_pair,
)
from llmdiff_eval.annotate.offline import EmbeddingAnnotator, EmbeddingJudge
from llmdiff_eval.annotate.pricing import DEFAULT_PRICES, ModelPrice
from llmdiff_eval.annotate.prompts import JUDGE_PROMPT_VERSION, PROMPT_VERSION
from llmdiff_eval.annotate.scoring import balanced_accuracy

__all__ = [
    "COLUMNS",
    "DEFAULT_MODEL",
    "DEFAULT_PRICES",
    "JUDGE_PROMPT_VERSION",
    "PROMPT_VERSION",
    "AnnotateConfig",
    "AnnotationError",
    "AnnotationIncompleteError",
    "AnnotationPlan",
    "AnnotationResult",
    "Annotator",
    "Budget",
    "BudgetExceededError",
    "ClaudeAnnotator",
    "ClaudeJudge",
    "EmbeddingAnnotator",
    "EmbeddingJudge",
    "Explanation",
    "Judge",
    "ModelPrice",
    "Usage",
    "annotate",
    "annotate_latents",
    "annotator_identity",
    "annotate_pair",
    "balanced_accuracy",
    "make_annotator",
    "plan_annotation",
    "plan_pair",
]
