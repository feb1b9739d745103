"""Detection scoring of annotations (in the style of EleutherAI's delphi "detection" scorer).

For one latent: held-out activating contexts (never shown to the explainer) and non-activating contexts are mixed
and shuffled, marks removed; a judge reads the description and says for each context whether the latent fires.
The score is the balanced accuracy ``(TPR + TNR) / 2``: 0.5 is chance, 1.0 perfect, independent of the class mix.
The same is done with a *random explanation* (another latent's description, see :func:`baseline_descriptions`),
reported beside it, so a score can be read against what an unrelated description achieves on the same contexts.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

from llmdiff_eval.annotate.base import Judge, Program
from llmdiff_eval.annotate.prompts import strip_marks
from llmdiff_eval.taxonomy import Taxonomy
from llmdiff_eval.utils import stable_hash


@dataclass(frozen=True)
class DetectionSet:
    """Shuffled plain-text contexts and whether each is a held-out activating one (True) or a negative (False)."""

    contexts: list[str]
    active: list[bool]

    @property
    def fingerprint(self) -> str:
        return stable_hash([self.contexts, self.active])

    @property
    def n_active(self) -> int:
        return sum(self.active)

    @property
    def n_negative(self) -> int:
        return len(self.active) - self.n_active


def spread_sample(items: list[str], n: int) -> list[str]:
    """``n`` items at evenly spaced positions (keeps the spread of quantile-ordered held-out samples)."""
    if len(items) <= n:
        return list(items)
    positions = np.linspace(0, len(items) - 1, n).round().astype(int)
    return [items[i] for i in dict.fromkeys(positions.tolist())]


def detection_set(
    heldout: list[str], negatives: list[str], n_per_class: int, seed: object
) -> DetectionSet | None:
    """Up to ``n_per_class`` of each kind, marks stripped, shuffled with a seed; None if either kind is missing."""
    active = [strip_marks(text) for text in spread_sample(list(heldout), n_per_class)]
    negative = [strip_marks(text) for text in spread_sample(list(negatives), n_per_class)]
    if not active or not negative:
        return None
    pairs = [(text, True) for text in active] + [(text, False) for text in negative]
    random.Random(stable_hash(seed)).shuffle(pairs)
    return DetectionSet(contexts=[text for text, _ in pairs], active=[flag for _, flag in pairs])


def balanced_accuracy(predicted: list[bool], actual: list[bool]) -> float:
    """(true-positive rate + true-negative rate) / 2; NaN when either class is absent."""
    if len(predicted) != len(actual):
        raise ValueError(f"{len(predicted)} verdicts for {len(actual)} contexts")
    positives = [p for p, a in zip(predicted, actual, strict=True) if a]
    negatives = [p for p, a in zip(predicted, actual, strict=True) if not a]
    if not positives or not negatives:
        return math.nan
    return (sum(positives) / len(positives) + sum(not p for p in negatives) / len(negatives)) / 2


def score_program(judge: Judge, description: str, dataset: DetectionSet) -> Program:
    """Program returning the balanced accuracy of ``judge``'s verdicts for ``description`` on ``dataset``."""
    fires = yield from judge.program(description, dataset.contexts)
    return balanced_accuracy(list(fires), dataset.active)


def baseline_descriptions(annotated: dict[int, tuple[str, str | None]], taxonomy: Taxonomy) -> dict[int, str]:
    """A random-explanation baseline per latent, deterministic given the annotated latents.

    ``annotated`` maps latent id -> (description, category code or None). For each latent (in id order) the baseline
    is the description of the next latent (cyclically) whose category and description both differ from its own; if
    there is none (e.g. a single latent), it is the description of a category of a different class, picked by a
    seeded draw.
    """
    ids = sorted(annotated)
    baselines: dict[int, str] = {}
    for position, latent in enumerate(ids):
        description, category = annotated[latent]
        for step in range(1, len(ids)):
            other_description, other_category = annotated[ids[(position + step) % len(ids)]]
            if other_description != description and (other_category != category or category is None):
                baselines[latent] = other_description
                break
        else:
            own_class = taxonomy.by_code(category).class_name if category else None
            candidates = [c for c in taxonomy.categories if c.class_name != own_class]
            chosen = random.Random(stable_hash(["baseline", latent])).choice(candidates)
            baselines[latent] = f"{chosen.name}: {chosen.description}"
    return baselines
