"""lm-evaluation-harness task YAML; pass this directory to ``--include_path`` (``llmdiff_eval.TASKS_DIR``)."""
