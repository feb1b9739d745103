"""A Messages API that accepts the connection and never answers: Ctrl-C stops ``annotate`` within seconds."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from conftest import snapshot


def test_ctrl_c_stops_annotate_against_a_silent_api_within_seconds(run):
    _, run_dir = run
    before = snapshot(run_dir / "annotations")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # connections are accepted by the kernel; nothing ever reads or answers them
    port = silent.getsockname()[1]
    command = [
        sys.executable, "-m", "llmdiff_eval", "annotate", str(run_dir), "--annotator", "claude",
        "--model", "claude-haiku-4-5", "--base-url", f"http://127.0.0.1:{port}", "--no-score",
    ]  # fmt: skip
    env = {**os.environ, "ANTHROPIC_API_KEY": "sk-ant-test-0123456789", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while "est. cost" not in (line := process.stdout.readline()) and time.monotonic() < deadline:
            assert line or process.poll() is None, "annotate ended before sending anything"
        time.sleep(1.5)  # the requests are now waiting on the silent server (timeout 120 s, 4 retries)
        pressed = time.monotonic()
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
        stopped_after = time.monotonic() - pressed
    finally:
        process.kill()
        silent.close()
    assert stopped_after < 5, f"Ctrl-C took {stopped_after:.1f} s"
    assert process.returncode == 130, output
    assert "Interrupted" in output and "Traceback" not in output
    assert snapshot(run_dir / "annotations") == before
