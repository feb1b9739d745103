"""Bradley–Terry ratings from pairwise battles — plain and with style control — and the bootstrap over battles.

The model (LMArena's, as in FastChat ``fastchat/serve/monitor/rating_systems.py``): battle ``i`` between models
``a_i`` and ``b_i`` has outcome ``y_i`` = 1 (A won), ½ (tie) or 0 (B won) and

    P(A beats B) = σ(x_i),   x_i = s[a_i] − s[b_i] + θ · z_i

with strengths ``s`` in natural log-odds units and, for style control only, ``z_i`` the battle's standardized style
features (A minus B, :func:`standardize`) and ``θ`` their coefficients in log-odds per standard deviation (θ = 0 for
the plain model). A tie enters the likelihood as half a win and half a loss. The fit minimizes

    Σ_i w_i [log(1 + e^{x_i}) − y_i x_i]  +  (λ/2) (‖s / ln 10‖² + ‖θ‖²)

(``w_i``: how many battles row ``i`` stands for — 1 per battle, a group's count once identical battles are
aggregated, bootstrap multiplicities in a resample). The ridge term is FastChat's contextual-fit penalty (``reg``
= λ = 0.5 on the ratings in log10-odds units and on θ); it is applied to the plain fit too, so that a rating exists
even for a model that never lost or never won, and makes the optimum satisfy Σ s = 0. The solver is scipy's
trust-region Newton method (``trust-exact``) with the analytic gradient and Hessian: a few iterations reach machine
precision, for ~100 models a dense Hessian is cheap.

Elo: ``rating = 1000 + 400/ln 10 · s`` (mean 1000 over the fitted models), then shifted so that the anchor model, if
it is among them, has the anchor rating (the public board: mixtral-8x7b-instruct-v0.1 = 1114). Differences between
models do not depend on the anchor. Style coefficients are reported in Elo per standard deviation of the feature
(θ · 400/ln 10): the rating gap worth as much as one more standard deviation of that style difference.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import optimize, sparse
from scipy.sparse import csgraph
from scipy.special import expit

from llmdiff_eval.arena.errors import ArenaError

ELO_PER_LOGIT = 400.0 / math.log(10.0)
"""Elo points per natural log-odds unit (base 10, scale 400)."""
BASE_RATING = 1000.0
DEFAULT_RIDGE = 0.5
"""λ of the ridge term (FastChat's ``reg``)."""
DEFAULT_ANCHOR: tuple[str, float] = ("mixtral-8x7b-instruct-v0.1", 1114.0)
"""The public board's anchor: this model, when it has battles, is rated 1114."""
GTOL = 1e-11
"""Solver tolerance on the gradient norm of the objective divided by the total weight."""


@dataclass(frozen=True)
class Comparisons:
    """Battles, or groups of identical battles, in index form (all arrays have one entry per row).

    ``model_a`` / ``model_b``: model indices in ``range(n_models)``; ``outcome``: A's score (1, ½, 0); ``weight``:
    battles per row; ``features``: (rows, K) standardized style features, or None for the plain model.
    """

    model_a: np.ndarray
    model_b: np.ndarray
    outcome: np.ndarray
    weight: np.ndarray
    n_models: int
    features: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return 0 if self.features is None else self.features.shape[1]

    def reweighted(self, weight: np.ndarray) -> Comparisons:
        """The same rows with other weights (a bootstrap resample)."""
        return Comparisons(self.model_a, self.model_b, self.outcome, weight, self.n_models, self.features)


@dataclass(frozen=True)
class Fit:
    """Fitted strengths (natural log-odds, Σ = 0) and style coefficients (log-odds per SD; empty when plain)."""

    strengths: np.ndarray
    coefficients: np.ndarray


def aggregate(
    model_a: np.ndarray, model_b: np.ndarray, outcome: np.ndarray, n_models: int
) -> tuple[Comparisons, np.ndarray]:
    """Group identical (model_a, model_b, outcome) battles: the plain model's likelihood only depends on how many
    battles each group has. Returns the groups (weight = count) and each battle's group index, so that resampled
    battle counts aggregate with ``np.bincount(group, counts)``."""
    key = (model_a.astype(np.int64) * n_models + model_b) * 3 + np.rint(outcome * 2).astype(np.int64)
    unique, group, counts = np.unique(key, return_inverse=True, return_counts=True)
    rows = Comparisons(
        model_a=(unique // 3) // n_models,
        model_b=(unique // 3) % n_models,
        outcome=(unique % 3) / 2.0,
        weight=counts.astype(float),
        n_models=n_models,
    )
    return rows, group


def standardize(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre each column of ``raw`` (battles × features) and divide by its standard deviation (population; a
    constant column is only centred). Returns the features, the means and the deviations used."""
    mean = raw.mean(axis=0)
    std = raw.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (raw - mean) / std, mean, std


class _Objective:
    """The penalized negative log-likelihood of the module docstring divided by the total weight, its gradient
    and Hessian; the logits' probabilities are kept for the Hessian at the same point."""

    def __init__(self, rows: Comparisons, ridge: float) -> None:
        self.rows, self.ridge = rows, ridge
        self.scale = 1.0 / max(float(rows.weight.sum()), 1.0)
        m, k = rows.n_models, rows.n_features
        self.penalty = np.concatenate([np.full(m, ridge / math.log(10.0) ** 2), np.full(k, ridge)])
        self.pair = rows.model_a * m + rows.model_b
        self._point: np.ndarray | None = None
        self._p = np.empty(0)

    def _logits(self, params: np.ndarray) -> np.ndarray:
        rows, m = self.rows, self.rows.n_models
        logits = params[rows.model_a] - params[rows.model_b]
        if rows.features is not None:
            logits = logits + rows.features @ params[m:]
        return logits

    def value_and_gradient(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        rows, m = self.rows, self.rows.n_models
        logits = self._logits(params)
        self._point, self._p = params.copy(), expit(logits)
        loss = float(rows.weight @ (np.logaddexp(0.0, logits) - rows.outcome * logits))
        residual = rows.weight * (self._p - rows.outcome)
        gradient = self.penalty * params
        gradient[:m] += np.bincount(rows.model_a, residual, m) - np.bincount(rows.model_b, residual, m)
        if rows.features is not None:
            gradient[m:] += rows.features.T @ residual
        value = loss + 0.5 * float(self.penalty @ (params * params))
        return value * self.scale, gradient * self.scale

    def hessian(self, params: np.ndarray) -> np.ndarray:
        rows, m = self.rows, self.rows.n_models
        if self._point is None or not np.array_equal(params, self._point):
            self.value_and_gradient(params)
        h = rows.weight * self._p * (1.0 - self._p)
        size = m + rows.n_features
        hessian = np.zeros((size, size))
        between = np.bincount(self.pair, h, m * m).reshape(m, m)
        hessian[:m, :m] = np.diag(np.bincount(rows.model_a, h, m) + np.bincount(rows.model_b, h, m))
        hessian[:m, :m] -= between + between.T
        if rows.features is not None:
            weighted = rows.features * h[:, None]
            cross = np.stack(
                [
                    np.bincount(rows.model_a, column, m) - np.bincount(rows.model_b, column, m)
                    for column in weighted.T
                ],
                axis=1,
            )
            hessian[:m, m:], hessian[m:, :m] = cross, cross.T
            hessian[m:, m:] = rows.features.T @ weighted
        hessian[np.diag_indices(size)] += self.penalty
        return hessian * self.scale


def fit_bradley_terry(rows: Comparisons, ridge: float = DEFAULT_RIDGE, start: Fit | None = None) -> Fit:
    """Minimize the penalized likelihood of the module docstring (trust-region Newton, scipy ``trust-exact``).

    ``start`` warm-starts the solver (e.g. the full-data fit for a bootstrap resample). Raises
    :class:`ArenaError` if the solver does not converge.
    """
    if ridge <= 0:
        raise ArenaError(f"ridge must be > 0 (got {ridge}); it keeps every rating finite")
    objective = _Objective(rows, ridge)
    size = rows.n_models + rows.n_features
    x0 = np.zeros(size) if start is None else np.concatenate([start.strengths, start.coefficients])
    result = optimize.minimize(
        objective.value_and_gradient,
        x0,
        jac=True,
        hess=objective.hessian,
        method="trust-exact",
        options={"gtol": GTOL, "maxiter": 200},
    )
    if not result.success and np.linalg.norm(result.jac) > 1e3 * GTOL:
        raise ArenaError(
            f"the Bradley–Terry fit did not converge: {result.message} (|gradient| {result.jac})"
        )
    strengths = result.x[: rows.n_models]
    return Fit(strengths - strengths.mean(), result.x[rows.n_models :])


def to_elo(strengths: np.ndarray, models: Sequence[str], anchor: tuple[str, float] | None) -> np.ndarray:
    """Elo ratings from strengths (last axis: models; NaN = no battles in that resample): mean 1000 over the models
    with a strength, shifted so that ``anchor`` = (model, rating) holds when that model is among ``models``."""
    centred = strengths - np.nanmean(strengths, axis=-1, keepdims=True)
    ratings = BASE_RATING + ELO_PER_LOGIT * centred
    if anchor is not None and anchor[0] in models:
        index = list(models).index(anchor[0])
        ratings = ratings + (anchor[1] - ratings[..., index : index + 1])
    return ratings


def disconnected_groups(model_a: np.ndarray, model_b: np.ndarray, n_models: int) -> list[np.ndarray]:
    """Model indices of each group of models that met each other (directly or through others); one group when the
    battles connect every model."""
    graph = sparse.coo_matrix((np.ones(len(model_a)), (model_a, model_b)), shape=(n_models, n_models))
    count, labels = csgraph.connected_components(graph, directed=False)
    return [np.flatnonzero(labels == label) for label in range(count)]


# --------------------------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapProblem:
    """What one resample needs: the battles (per battle, with style features when style control is on), their
    aggregation into groups for the plain fit, the full-data fits to start from, and λ."""

    battles: Comparisons
    groups: Comparisons
    group_of_battle: np.ndarray
    plain_start: Fit
    style_start: Fit | None
    ridge: float


@dataclass(frozen=True)
class BootstrapDraws:
    """Per round (rows) and model (columns): plain and style-controlled strengths (NaN where the model had no
    battle in the resample, and style NaN without style control), and style coefficients (rounds × K)."""

    plain: np.ndarray
    style: np.ndarray
    coefficients: np.ndarray
    disconnected_rounds: int


_PROBLEM: BootstrapProblem | None = None  # the worker process's problem, set once by its initializer


def _install(problem: BootstrapProblem | None) -> None:
    global _PROBLEM
    _PROBLEM = problem


def _resample(seed: np.random.SeedSequence) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """One bootstrap round: draw N battles with replacement (as multiplicities), refit both models."""
    problem = _PROBLEM
    assert problem is not None, "the worker was started without a problem"
    battles = problem.battles
    n = len(battles.outcome)
    counts = np.bincount(np.random.default_rng(seed).integers(0, n, size=n), minlength=n).astype(float)
    played = np.bincount(battles.model_a, counts, battles.n_models) + np.bincount(
        battles.model_b, counts, battles.n_models
    )
    absent = played == 0
    drawn = counts > 0
    group_weight = np.bincount(problem.group_of_battle, counts, len(problem.groups.outcome))
    met = group_weight > 0  # the (a, b, outcome) groups drawn: who met whom in this resample
    components = disconnected_groups(
        problem.groups.model_a[met], problem.groups.model_b[met], battles.n_models
    )
    disconnected = sum(len(component) > 1 for component in components) > 1
    plain = fit_bradley_terry(problem.groups.reweighted(group_weight), problem.ridge, problem.plain_start)
    plain_strengths = np.where(absent, np.nan, plain.strengths)
    if problem.style_start is None:
        return plain_strengths, np.full(battles.n_models, np.nan), np.zeros(0), disconnected
    assert battles.features is not None
    resampled = Comparisons(  # battles drawn at least once, weighted by how often
        battles.model_a[drawn],
        battles.model_b[drawn],
        battles.outcome[drawn],
        counts[drawn],
        battles.n_models,
        battles.features[drawn],
    )
    style = fit_bradley_terry(resampled, problem.ridge, problem.style_start)
    return plain_strengths, np.where(absent, np.nan, style.strengths), style.coefficients, disconnected


def _resample_many(
    seeds: list[np.random.SeedSequence],
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, bool]]:
    return [_resample(seed) for seed in seeds]


def bootstrap(
    problem: BootstrapProblem, rounds: int, seed: int, workers: int | None = None
) -> BootstrapDraws:
    """``rounds`` resamples of the battles (each battle drawn with replacement, N draws), fitted like the full
    data; round ``r`` uses the ``r``-th child of ``SeedSequence(seed)``, so results do not depend on ``workers``
    (None: every available core; 1: in this process)."""
    seeds = np.random.SeedSequence(seed).spawn(rounds)
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = min(rounds, workers or available)
    if workers <= 1:
        _install(problem)
        try:
            results = _resample_many(seeds)
        finally:
            _install(None)
    else:
        chunks = [seeds[i::workers] for i in range(workers)]
        with ProcessPoolExecutor(max_workers=workers, initializer=_install, initargs=(problem,)) as pool:
            parts = list(pool.map(_resample_many, chunks))
        results = [None] * rounds
        for worker, part in enumerate(parts):
            results[worker::workers] = part
    plain, style, coefficients, disconnected = zip(*results, strict=True)
    return BootstrapDraws(np.vstack(plain), np.vstack(style), np.vstack(coefficients), int(sum(disconnected)))
