"""Plots of the analyze stage: the Δnorm histogram and the ν^ε vs ν^r scatter (the paper's Fig. 1)."""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from llmdiff_eval.config.analyze import TAGS, AnalyzeConfig
from llmdiff_eval.utils import atomic_path

log = logging.getLogger(__name__)


TAG_COLOURS = {"ft_only": "#7b3294", "base_only": "#e66101", "shared": "#4d9221", "other": "#9e9e9e"}
NU_PLOT_RANGE = (-0.5, 2.0)


def plot_delta_norm(df: pd.DataFrame, path: str | os.PathLike, title: str = "") -> None:
    """Histogram of Δnorm (log count axis) with the model-specific thresholds and the shared band marked."""
    from matplotlib.figure import Figure

    thresholds = df.attrs.get("thresholds", AnalyzeConfig().thresholds())
    high = thresholds["ft_only"]["delta_norm_min"]
    low = thresholds["base_only"]["delta_norm_max"]
    band = thresholds["shared"]["abs_delta_norm_minus_half_max"]
    values = df["delta_norm"].dropna().to_numpy()
    fig = Figure(figsize=(7.5, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.axvspan(
        0.5 - band,
        0.5 + band,
        color=TAG_COLOURS["shared"],
        alpha=0.15,
        label=f"shared: |Δnorm − 0.5| < {band:g}",
    )
    ax.hist(values, bins=np.linspace(0, 1, 51), color="#4c72b0", edgecolor="white", linewidth=0.4)
    ax.axvline(
        high,
        color=TAG_COLOURS["ft_only"],
        linestyle="--",
        label=f"fine-tune-only candidates: Δnorm ≥ {high:g}",
    )
    ax.axvline(
        low, color=TAG_COLOURS["base_only"], linestyle="--", label=f"base-only candidates: Δnorm ≤ {low:g}"
    )
    ax.set_yscale("log")
    ax.set_ylim(bottom=0.7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("Δnorm   (0 = only in the base, 0.5 = equal, 1 = only in the fine-tune)")
    ax.set_ylabel("latents (log scale)")
    counts = df["tag"].value_counts()
    summary = ", ".join(f"{tag} {int(counts.get(tag, 0))}" for tag in TAGS)
    ax.set_title(
        f"{title}: Δnorm of {len(values)} latents\ntags after latent scaling: {summary}", fontsize=10
    )
    ax.legend(fontsize=8, loc="upper left", framealpha=0.9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)


def plot_nu_scatter(df: pd.DataFrame, path: str | os.PathLike, title: str = "") -> None:
    """ν^ε vs ν^r of the model-specific candidates (paper Fig. 1 style) with the tag box marked.

    Left: fine-tune side (Δnorm ≥ threshold, ν along the fine-tune decoder); right: base side (the mirrored ν).
    Points outside ``NU_PLOT_RANGE`` are drawn as triangles on the edge and counted in the panel title.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    thresholds = df.attrs.get("thresholds", AnalyzeConfig().thresholds())
    rule = thresholds["ft_only"]
    sides = [
        ("fine-tune side", df["delta_norm"] >= rule["delta_norm_min"], ("nu_eps", "nu_r"), "ft_only", ""),
        (
            "base side",
            df["delta_norm"] <= thresholds["base_only"]["delta_norm_max"],
            ("nu_eps_base", "nu_r_base"),
            "base_only",
            " (mirror: ν = β_ft / β_base)",
        ),
    ]
    lo, hi = NU_PLOT_RANGE
    margin = 0.04 * (hi - lo)
    fig = Figure(figsize=(11, 5), layout="constrained")
    for ax, (label, candidate, (eps_col, r_col), tag, mirror) in zip(fig.subplots(1, 2), sides, strict=True):
        part = df[candidate & df[eps_col].notna() & df[r_col].notna()]
        eps, r = part[eps_col].to_numpy(), part[r_col].to_numpy()
        outside = (eps < lo) | (eps > hi) | (r < lo) | (r > hi)
        chosen = (part["tag"] == tag).to_numpy()
        for mask, colour, name in (
            (~chosen, TAG_COLOURS["other"], "candidate by Δnorm, not tagged"),
            (chosen, TAG_COLOURS[tag], f"{tag} ({int(chosen.sum())})"),
        ):
            for shape, where in (("o", mask & ~outside), ("^", mask & outside)):
                ax.scatter(
                    np.clip(eps[where], lo, hi),
                    np.clip(r[where], lo, hi),
                    s=12,
                    alpha=0.7,
                    marker=shape,
                    color=colour,
                    label=name if shape == "o" else None,
                )
        if rule["nu_eps_max"] is not None:  # the relative selection applies no ν box
            box_lo = lo - margin if rule["nu_min"] is None else rule["nu_min"]
            ax.add_patch(
                Rectangle(
                    (box_lo, box_lo),
                    rule["nu_eps_max"] - box_lo,
                    rule["nu_r_max"] - box_lo,
                    fill=False,
                    edgecolor=TAG_COLOURS[tag],
                    linestyle="--",
                    linewidth=1.3,
                )
            )
        ax.axhline(1.0, color="#cccccc", linewidth=0.8, zorder=0)
        ax.axvline(1.0, color="#cccccc", linewidth=0.8, zorder=0)
        ax.set_xlim(lo - margin, hi + margin)
        ax.set_ylim(lo - margin, hi + margin)
        ax.set_xlabel(r"$\nu^\epsilon$   (0 = absent from the other model's error)")
        ax.set_ylabel(r"$\nu^r$   (0 = absent from the other model's reconstruction)")
        clipped = f", {int(outside.sum())} outside the axes (▲)" if outside.any() else ""
        ax.set_title(f"{label}{mirror}: {len(part)} candidates{clipped}", fontsize=10)
        ax.legend(fontsize=8, loc="upper right", framealpha=0.9)
    fig.suptitle(f"{title}: latent scaling of model-specific candidates (dashed box = tag rule)", fontsize=11)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
