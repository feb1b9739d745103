"""``llmdiff-eval export``: a pair's crosscoder in SAE-Lens's layout with its latent tables and a model card, optionally
published on the Hugging Face Hub (docs/export.md)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--pair", required=True, help="The pair to export, e.g. base__a (its crosscoders/<pair>/ folder)."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory: README.md (the crosscoder's model card) and <pair>/ (SAE-Lens files and tables).",
)
@click.option(
    "--push-to-hub",
    "repo_id",
    metavar="REPO",
    help="Also upload OUT to this Hugging Face model repository (created if needed), with your token (HF_TOKEN or "
    "`hf auth login`; never printed). HF_ENDPOINT selects another Hub.",
)
@click.option("--private", is_flag=True, help="With --push-to-hub: create the repository as private.")
def export(run_dir: Path, pair: str, out: Path, repo_id: str | None, private: bool) -> None:
    """Export one pair's crosscoder: SAE-Lens files (loadable with SAE.load_from_disk(OUT/PAIR) once
    llmdiff_eval.crosscoder is imported), its latent, annotation and logit-lens tables, and a model card."""
    from llmdiff_eval.export import export_pair, push_folder

    export_pair(run_dir, pair, out, repo_id=repo_id)
    click.echo(f"wrote {out} (SAE-Lens folder {out / pair})", err=True)
    if repo_id:
        click.echo(f"pushed to {push_folder(out, repo_id, private=private)}", err=True)
