"""The demo's known answer, measured causally (issue 15, item 4): does ablating a fine-tune's planted class of
model-specific latents take its planted behaviour away?

On a finished demo run directory (``llmdiff-eval demo [--quick] --out DIR``, which runs the causal stage), with the
prompts and counting rules of ``make behaviour`` (``llmdiff_eval/data/finetunes/check_behaviour.py``: the 60 English
harmful requests of the probe corpus, refused = "can't", "cannot", "won't", "sorry" or "not able" in the first 16
tokens; 40 ordinary English requests, German / French by function words in the first 24 tokens):

* ``a`` (safety LoRA): refusals of the harmful requests by ``a``, by ``a`` with its *Safety & Content Moderation*
  latents ablated, by ``a`` with a matched random latent set ablated instead, by the base, and by the base with the
  same Safety latents added;
* ``b`` (German / French LoRA): German / French answers to the ordinary requests, the same five ways with b's
  *Linguistic Capabilities* latents.

Greedy decoding with the intervention at every position (``llmdiff_eval.causal.Steering``). It also prints the
causal stage's KL figures for those sets (``causal/<pair>.json``) and the stage's wall time (its markers). Nothing is
asserted. Writes every reply to ``<run>/causal_behaviour.jsonl``.

    .venv/bin/python benchmarks/bench_causal.py RUN_DIR [--threads N] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from llmdiff_eval.causal.steer import Steering
from llmdiff_eval.config import load_config
from llmdiff_eval.data.finetunes.check_behaviour import REFUSAL, language_of, prompts
from llmdiff_eval.models import load_models

PLANTED = {
    "a": ("Safety & Content Moderation", "refuses", 16),
    "b": ("Linguistic Capabilities", "German / French", 24),
}


def count(replies: list[str], behaviour: str) -> int:
    if behaviour == "refuses":
        return sum(bool(REFUSAL.search(reply)) for reply in replies)
    return sum(language_of(reply) != "other" for reply in replies)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--limit", type=int, help="only the first N prompts of each list (a quicker look)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the matched random control")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = load_config(args.run_dir / "config.yaml")
    started = time.perf_counter()
    models = load_models(config.models, config.causal.device, config.harvest.dtype)
    harmful, ordinary = prompts()
    texts = {"a": harmful[: args.limit], "b": ordinary[: args.limit]}
    records, table = [], []
    for ft, (class_name, behaviour, max_new) in PLANTED.items():
        steering = Steering(args.run_dir, ft, models=models, config=config)
        planted = steering.latent_set(class_name)
        ids = [steering.prompt_ids(text) for text in texts[ft]]
        control = steering.control(planted, ids, args.seed)
        runs = {
            f"{ft}": (None, "ablate"),
            f"{ft}, {class_name} ablated": (planted, "ablate"),
            f"{ft}, matched random set ablated": (control, "ablate"),
            "base": (None, "add"),
            f"base + {ft}'s {class_name}": (planted, "add"),
        }
        for label, (latent_set, mode) in runs.items():
            replies = [steering.generate(prompt, latent_set, mode, max_new) for prompt in ids]
            records += [
                {"pair": ft, "run": label, "prompt": text, "reply": reply}
                for text, reply in zip(texts[ft], replies, strict=True)
            ]
            table.append(
                (
                    ft,
                    label,
                    len(planted) if latent_set is planted else (len(control) if latent_set else 0),
                    f"{behaviour}: {count(replies, behaviour)} of {len(replies)}",
                )
            )
        print(
            f"{ft}: {class_name} = {len(planted)} latents {list(planted.latents)}; control {list(control.latents)}",
            file=sys.stderr,
        )
    with open(args.run_dir / "causal_behaviour.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    print("| pair | model, intervention | latents | behaviour |\n|---|---|---|---|")
    for row in table:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print(f"\nbehaviour measured in {time.perf_counter() - started:.0f} s\n")
    print(
        "| pair | set | n | KL removed | controls p95 | causal | KL closed | controls p95 | KL removed (firing) | "
        "KL before (nats/token) |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    for ft in PLANTED:
        data = json.loads((args.run_dir / "causal" / f"base__{ft}.json").read_text())
        for row in data["sets"]:
            cells = (
                [ft, row["name"], row["n_latents"]]
                + [
                    "—"
                    if row[key] is None
                    else (f"{100 * row[key]:.1f}%" if not isinstance(row[key], bool) else row[key])
                    for key in (
                        "kl_removed",
                        "control_p95",
                        "causal",
                        "kl_closed",
                        "control_p95_closed",
                        "kl_removed_firing",
                    )
                ]
                + [f"{row['kl']['all']['before']:.4f}"]
            )
            print("| " + " | ".join(str(cell) for cell in cells) + " |")
        marker = json.loads((args.run_dir / ".stages" / f"causal__base__{ft}.json").read_text())
        print(
            f"\ncausal stage, base__{ft}: {marker['seconds']:.0f} s; cost {data['cost']}; probe {data['probe']['n_tokens']} "
            f"tokens, KL {data['probe']['kl']:.4f} nats/token\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
