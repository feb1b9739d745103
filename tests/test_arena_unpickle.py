"""The restricted unpickler: rebuilds the leaderboard's pandas tables, never runs or imports anything else."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from arena_server import FakeFigure, legacy_pickle, load_leaderboard  # noqa: E402

from llmdiff_eval.arena.legacy_sources import pickle_records  # noqa: E402
from llmdiff_eval.arena.unpickle import RefusedObject, UnsafePickleError, restricted_loads  # noqa: E402


class RunsCommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class CallsEval:
    def __reduce__(self):
        return (eval, ("__import__('os').getpid()",))


def test_tables_load_and_foreign_objects_become_inert(tmp_path):
    marker = tmp_path / "ran"
    data = legacy_pickle(
        load_leaderboard(), "2025-08-29", extra={"cmd": RunsCommand(marker), "ev": CallsEval()}
    )
    results, refused = restricted_loads(data)
    assert not marker.exists()
    assert set(refused) == {"posix.system", "builtins.eval", "arena_server.FakeFigure"}
    full = results["text"]["full"]
    assert isinstance(full["cmd"], RefusedObject) and isinstance(full["ev"], RefusedObject)
    assert isinstance(full["win_fraction_heatmap"], RefusedObject)
    assert not isinstance(full["win_fraction_heatmap"], FakeFigure)
    table = full["leaderboard_table_df"]
    assert isinstance(table, pd.DataFrame)
    assert table.loc["gemma-2-9b-it", "rating"] == 1190.01  # fixture CSV, 2025-08-29, text, overall
    assert table.loc["gemma-2-9b-it-simpo", "num_battles"] == 2000
    style = results["text"]["full_style_control"]["leaderboard_table_df"]
    assert style.loc["gemma-2-9b-it", "rating_q025"] == 1225.51


def test_strict_mode_stops_at_the_first_foreign_global(tmp_path):
    data = pickle.dumps({"x": RunsCommand(tmp_path / "ran")})
    with pytest.raises(UnsafePickleError, match="posix.system"):
        restricted_loads(data, strict=True)
    assert not (tmp_path / "ran").exists()


def test_pickle_records_use_canonical_names_and_style_suffix():
    results, _ = restricted_loads(legacy_pickle(load_leaderboard(), "2025-08-29"))
    records = pd.DataFrame(pickle_records(results, "2025-08-29"))
    row = records[(records.model == "gemma-2-9b-it") & (records.category == "instruction_following")]
    assert sorted(zip(row.style_control, row.rating, strict=True)) == [(False, 1194.01), (True, 1234.01)]
    assert not {"full", "if", "hard_6", "multiturn", "long_user"} & set(records.category)
