"""Peak memory and wall time of the lm-eval task ``mechdiff`` with and without reusing lm-eval's copy of the model.

The evaluated model is the demo's fine-tune ``a`` (SmolLM2-135M-Instruct + the safety LoRA), merged and saved as a
Hugging Face directory (lm-eval's ``--model hf`` runs a PEFT adapter unmerged, which the task does not reuse); the
base is ``packaged:smollm2``. Each way runs in its own process: ``simple_evaluate(model="hf", tasks=["mechdiff"])``
with ``--metadata reuse_model`` true or false, an empty task cache, float32 on CPU, the task training its own
``cpu-small`` crosscoder on the first ``--limit`` probe documents. The reference, in the same run: a process that only
loads lm-eval's model (``HFLM``) and scores the same documents. Peak resident memory is the process's
``ru_maxrss``. Nothing is asserted.

    .venv/bin/python benchmarks/bench_lm_eval_task.py [--limit N] [--max-tokens N]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAYER = 20


def prepare(root: Path) -> Path:
    """The merged fine-tune ``a`` with its tokenizer, saved under ``root``."""
    from llmdiff_eval.config.models import ModelSpec
    from llmdiff_eval.demo import ADAPTERS, data_path
    from llmdiff_eval.models import load_tokenizer, load_weights

    spec = ModelSpec("a", "packaged:smollm2", adapter=str(data_path("adapters", ADAPTERS["a"])))
    out = root / "a-merged"
    load_weights(spec).save_pretrained(out)
    load_tokenizer(spec).save_pretrained(out)
    return out


def worker(mode: str, model_dir: str, cache_dir: str, limit: int, max_tokens: int) -> dict:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from llmdiff_eval.integrations.lm_eval import TASKS_DIR

    started = time.perf_counter()
    model_args = {"pretrained": model_dir, "dtype": "float32"}
    if mode == "lm-eval only":  # the reference: lm-eval's model alone, on the same documents
        from lm_eval.models.huggingface import HFLM

        from llmdiff_eval.integrations.lm_eval.run import probe_documents
        from llmdiff_eval.integrations.lm_eval.settings import MechdiffSettings

        settings = MechdiffSettings.from_metadata(
            {**model_args, "base_model": "packaged:smollm2", "layer": LAYER}
        )
        lm = HFLM(**model_args, device="cpu", batch_size=8)
        from lm_eval.api.instance import Instance

        docs = probe_documents(settings)[:limit]
        requests = [Instance("loglikelihood_rolling", doc, (doc["text"],), i) for i, doc in enumerate(docs)]
        lm.loglikelihood_rolling(requests)
        source = "—"
    else:
        metadata = {
            **model_args,
            "base_model": "packaged:smollm2",
            "layer": LAYER,
            "device": "cpu",
            "max_tokens": max_tokens,
            "cache_dir": cache_dir,
            "reuse_model": mode == "reuse",
        }
        results = simple_evaluate(
            model="hf",
            model_args=model_args,
            tasks=["mechdiff"],
            task_manager=TaskManager(include_path=[TASKS_DIR], include_defaults=False, metadata=metadata),
            limit=limit,
            device="cpu",
            batch_size=8,
        )
        source = results["configs"]["mechdiff"]["metadata"]["mechdiff_run"]["evaluated_model_source"]
    return {
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "seconds": time.perf_counter() - started,
        "source": source,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--limit", type=int, default=16, help="probe documents lm-eval evaluates (default 16)"
    )
    parser.add_argument("--max-tokens", type=int, default=4000, help="probe tokens harvested per model")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        mode, model_dir, cache_dir = args.worker
        print(json.dumps(worker(mode, model_dir, cache_dir, args.limit, args.max_tokens)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = prepare(Path(tmp))
        rows = []
        for mode in ("lm-eval only", "copy", "reuse"):
            cache = Path(tmp) / f"cache-{mode.replace(' ', '-')}"
            command = [
                sys.executable,
                __file__,
                "--limit",
                str(args.limit),
                "--max-tokens",
                str(args.max_tokens),
            ]
            done = subprocess.run(
                [*command, "--worker", mode, str(model_dir), str(cache)], capture_output=True, text=True
            )
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                return 1
            rows.append((mode, json.loads(done.stdout.strip().splitlines()[-1])))
    reference = rows[0][1]
    print(
        f"SmolLM2-135M fine-tune a (merged) vs packaged base, layer {LAYER}, --limit {args.limit}, "
        f"max_tokens {args.max_tokens}, float32 CPU\n"
    )
    print("| run | peak RSS (GB) | × lm-eval only | wall (s) | evaluated model |\n|---|---|---|---|---|")
    for mode, row in rows:
        print(
            f"| {mode} | {row['peak_rss_gb']:.2f} | {row['peak_rss_gb'] / reference['peak_rss_gb']:.2f} | "
            f"{row['seconds']:.0f} | {row['source']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
