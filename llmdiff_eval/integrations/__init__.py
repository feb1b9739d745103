"""Integrations with other tools: ``lm_eval/`` (the lm-evaluation-harness task ``mechdiff``). Reference: docs/lm-eval.md."""
