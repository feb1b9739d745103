"""Peak memory and wall time of the lm-eval task ``mechdiff`` with and without reusing lm-eval's copy of the model.

The evaluated model is the demo's fine-tune ``a`` (SmolLM2-135M-Instruct + the safety LoRA), merged and saved as a
Hugging Face directory (lm-eval's ``--model hf`` runs a PEFT adapter unmerged, which the task does not reuse); the
base is ``packaged:smollm2``. Each way runs in its own process: ``simple_evaluate(model="hf", tasks=["mechdiff"])``
with ``--metadata reuse_model`` true or false, an empty task cache, float32 on CPU, the task training its own
``cpu-small`` crosscoder on the first ``--limit`` probe documents. The reference, in the same run: a process that only
loads lm-eval's model (``HFLM``) and scores the same documents. Peak resident memory is the process's
``ru_maxrss``; lm-eval's own scoring (logits over the vocabulary) can set it before the task starts, so a sampler
thread (every 20 ms, ``/proc/self/statm``) also records the resident memory when the task starts (its first log line)
and the largest while it runs. Nothing is asserted.

    .venv/bin/python benchmarks/bench_lm_eval_task.py [--limit N] [--max-tokens N]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import threading
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


class TaskMemory(logging.Handler):
    """Resident memory when the task logs its start, and the largest seen after that (sampled every 20 ms)."""

    def __init__(self) -> None:
        super().__init__()
        self.at_start: float | None = None
        self.peak = 0.0
        threading.Thread(target=self._sample, daemon=True).start()

    @staticmethod
    def resident_gb() -> float:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**30

    def emit(self, record: logging.LogRecord) -> None:
        if self.at_start is None and record.getMessage().startswith("mechdiff: diffing"):
            self.at_start = self.peak = self.resident_gb()

    def _sample(self) -> None:
        while True:
            if self.at_start is not None:
                self.peak = max(self.peak, self.resident_gb())
            time.sleep(0.02)


def worker(mode: str, model_dir: str, cache_dir: str, limit: int, max_tokens: int) -> dict:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    from llmdiff_eval.integrations.lm_eval import TASKS_DIR

    started = time.perf_counter()
    memory = TaskMemory()
    task_log = logging.getLogger("llmdiff_eval.integrations.lm_eval.run")
    task_log.setLevel(logging.INFO)
    task_log.addHandler(memory)
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
        "task_start_gb": memory.at_start,
        "task_peak_gb": memory.peak if memory.at_start is not None else None,
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
    print(
        "| run | peak RSS (GB) | × lm-eval only | resident at task start (GB) | largest during the task (GB) | "
        "wall (s) | evaluated model |\n|---|---|---|---|---|---|---|"
    )
    for mode, row in rows:
        during = [
            f"{row[key]:.2f}" if row[key] is not None else "—" for key in ("task_start_gb", "task_peak_gb")
        ]
        print(
            f"| {mode} | {row['peak_rss_gb']:.2f} | {row['peak_rss_gb'] / reference['peak_rss_gb']:.2f} | "
            f"{during[0]} | {during[1]} | {row['seconds']:.0f} | {row['source']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
