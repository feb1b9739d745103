"""Analyze stage: one unit per pair; writes ``latents/<pair>.parquet``, the pair's rows of ``examples.sqlite``, its
logit lens (``logit_lens/<pair>.parquet``) and its plots. Result-changing settings: the pair's train key and
``analyze`` minus its ``RESULT_NEUTRAL`` settings. Reference: docs/analyze.md.
"""

from __future__ import annotations

import logging
import os

import pandas as pd

from llmdiff_eval.analyze import (
    TokenInfo,
    collect_examples,
    latent_table,
    logit_lens,
    plot_delta_norm,
    plot_nu_scatter,
)
from llmdiff_eval.config import AnalyzeConfig, ModelSpec, RunConfig, result_settings
from llmdiff_eval.crosscoder import load_crosscoder
from llmdiff_eval.models import check_device, load_output_head
from llmdiff_eval.rundir import RunDir
from llmdiff_eval.rundir.activations import ActivationCache
from llmdiff_eval.rundir.examples import examples_problems, write_examples
from llmdiff_eval.rundir.latents import write_latent_table, write_logit_lens
from llmdiff_eval.stages import train
from llmdiff_eval.stages.base import Stage, Unit, pair_units
from llmdiff_eval.utils import pair_name, stable_hash

NAME = "analyze"
log = logging.getLogger(__name__)


def unit_key(config: RunConfig, base: str, ft: str, seed: int | None = None) -> str:
    return stable_hash(
        {"inputs": train.unit_key(config, base, ft, seed), "analyze": result_settings(config.analyze)}
    )


def analyze(
    cfg: AnalyzeConfig, run_dir: str | os.PathLike, base: str, ft: str, seed: int | None = None
) -> pd.DataFrame:
    """Analyze one base–fine-tune pair of a run directory.

    Reads ``crosscoders/<pair>/`` and ``activations/<base>/``, ``activations/<ft>/``; writes
    ``examples.sqlite`` (this pair's rows), ``logit_lens/<pair>.parquet`` (unless ``cfg.logit_lens_top_k`` is 0;
    the fine-tune's LM head comes from the model spec its activation cache records), ``plots/<pair>_delta_norm.png``,
    ``plots/<pair>_nu_scatter.png`` and, last, ``latents/<pair>.parquet`` (so the table's presence means the stage
    finished). Returns the table.
    ``seed``: an extra seed of the ensemble; ``<pair>`` is then ``<base>__<ft>@seed<k>`` throughout.
    """
    run_dir = RunDir(run_dir)
    pair = pair_name(base, ft, seed)
    cc_dir = run_dir.crosscoder(base, ft, seed)
    if not (cc_dir / "cfg.json").exists():
        raise FileNotFoundError(
            f"no trained crosscoder for pair {pair!r} at {cc_dir}: run the train stage first (`llmdiff-eval train`)"
        )
    cache_dirs = (run_dir.activations(base), run_dir.activations(ft))
    for cache_dir in cache_dirs:
        ActivationCache(cache_dir)  # raises CacheError naming the harvest stage if missing or incomplete

    cc = load_crosscoder(cc_dir)
    df = latent_table(cc, cache_dirs, cfg)
    df.attrs.update({"pair": pair, "base": base, "ft": ft})
    chosen = df.index[df["tag"].isin(cfg.example_tags)].to_numpy()
    log.info("analyze %s: %s; examples for %d latents", pair, df["tag"].value_counts().to_dict(), len(chosen))
    tokens = TokenInfo.from_cache(cache_dirs[0])
    examples = collect_examples(cc, cache_dirs, tokens, chosen, df["max_act"].to_numpy(), cfg)
    write_examples(run_dir.examples_db, pair, examples, cfg, df.attrs["thresholds"])
    if cfg.logit_lens_top_k:
        ft_cache = ActivationCache(cache_dirs[1])
        head = load_output_head(ModelSpec.from_dict(ft_cache.model), cfg.device or "cpu")
        lens = logit_lens(cc, head, tokens.tokenizer, chosen, cfg.logit_lens_top_k)
        lens.attrs.update({"pair": pair, "model": ft, "layer": ft_cache.layer})
        write_logit_lens(lens, run_dir.logit_lens(pair))
    else:  # switched off: a lens from an earlier run would describe other latents
        run_dir.logit_lens(pair).unlink(missing_ok=True)
    plot_delta_norm(df, run_dir.plot(pair, "delta_norm"), title=pair)
    plot_nu_scatter(df, run_dir.plot(pair, "nu_scatter"), title=pair)
    write_latent_table(df, run_dir.latents(pair))
    return df


def units(config: RunConfig, run_dir: RunDir) -> list[Unit]:
    units = pair_units(
        NAME,
        config,
        unit_key,
        lambda base, ft, seed: analyze(config.analyze, run_dir.root, base, ft, seed),
        lambda base, ft, seed: (
            [run_dir.latents(pair_name(base, ft, seed))]
            + ([run_dir.logit_lens(pair_name(base, ft, seed))] if config.analyze.logit_lens_top_k else [])
        ),
    )
    for unit in units:  # the pair's rows of the shared examples.sqlite are an output too
        unit.verify = lambda pair=unit.name: examples_problems(run_dir.examples_db, pair)
    return units


def check(config: RunConfig) -> None:
    check_device(config.analyze.device)


STAGE = Stage(NAME, units, summary="Δnorm, latent scaling, tags and examples per latent", check=check)
