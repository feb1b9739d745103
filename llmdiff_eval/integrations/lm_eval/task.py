"""The ``ConfigurableTask`` subclass that ``tasks/mechdiff/mechdiff.yaml`` builds (:class:`MechdiffTask`)."""

from __future__ import annotations

import functools
from typing import Any

import datasets
from lm_eval.api.task import ConfigurableTask

from llmdiff_eval.integrations.lm_eval.reuse import evaluating_lm, reusable_model
from llmdiff_eval.integrations.lm_eval.run import MechdiffResult, probe_documents, run_mechdiff
from llmdiff_eval.integrations.lm_eval.settings import MechdiffSettings, metric_names
from llmdiff_eval.taxonomy import load_taxonomy


class MechdiffTask(ConfigurableTask):
    """lm-eval task ``mechdiff`` (docs/lm-eval.md): probe-corpus perplexity from ``loglikelihood_rolling``
    plus the mechanistic metrics of :func:`run_mechdiff`, computed once and reported through their aggregations."""

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        config = dict(config or {})
        config.pop("class", None)
        self.settings = MechdiffSettings.from_metadata(config.get("metadata") or {})
        self.taxonomy = load_taxonomy(self.settings.taxonomy)
        self._max_docs: int | None = None
        self._result: MechdiffResult | None = None
        super().__init__(config=config)
        for name in metric_names(self.taxonomy):
            self._metric_fn_list[name] = None
            self._aggregation_list[name] = functools.partial(self._aggregate, name)
            self._higher_is_better[name] = None

    def download(self, dataset_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """The packaged probe corpus as the ``test`` split (no ``datasets.load_dataset``, no network)."""
        self.dataset = datasets.DatasetDict(
            {"test": datasets.Dataset.from_list(probe_documents(self.settings))}
        )

    def build_all_requests(
        self, *, limit: int | None = None, samples: list[int] | None = None, **kwargs: Any
    ) -> None:
        """Remember how many documents lm-eval evaluates (``--limit`` / ``--samples``): the heavy work harvests the
        same first documents."""
        if samples:
            self._max_docs = max(samples) + 1
        elif limit is not None:
            self._max_docs = int(limit)
        super().build_all_requests(limit=limit, samples=samples, **kwargs)

    def process_results(self, doc: dict[str, Any], results: list[Any]) -> dict[str, Any]:
        """lm-eval's perplexity entries of the document, plus a placeholder for each mechanistic metric (their
        aggregation ignores the per-document values and returns the once-computed value)."""
        return {**super().process_results(doc, results), **dict.fromkeys(metric_names(self.taxonomy))}

    def mechdiff_results(self) -> MechdiffResult:
        """Run (once) the diff of this evaluation; records its provenance in the task metadata, which lm-eval
        copies into ``results["configs"]["mechdiff"]["metadata"]["mechdiff_run"]``."""
        if self._result is None:
            reuse = reusable_model(evaluating_lm(), self.settings)
            self._result = run_mechdiff(reuse.settings, self._max_docs, reuse.model, reuse.note)
            self.config.metadata["mechdiff_run"] = self._result.provenance
        return self._result

    def _aggregate(self, name: str, items: list[Any]) -> float:
        return self.mechdiff_results().metrics[name]
