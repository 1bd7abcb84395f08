"""benchmarks/result_merge.py: merged result files say what their runs are."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import result_merge as rm  # noqa: E402  (benchmarks/result_merge.py)


def run(seed, method, strategy="random", acc=0.5, **extra):
    return {"classifier": "mlp", "seed": seed, "strategy": strategy, "method": method,
            "test_accuracy": acc, **extra}


def part(runs, **config):
    return {"config": {"seeds": sorted({r["seed"] for r in runs}), "classifier": "mlp",
                       "rounds": 9, "output": "x.json", **config}, "runs": runs}


def test_a_full_grid_is_one_invocation():
    runs = [run(s, m) for s in (0, 1) for m in ("majority", "mollia")]
    assert rm.invocations(runs) == [
        {"seeds": [0, 1], "strategies": ["random"], "methods": ["majority", "mollia"]}]
    config = rm.config_from_runs({"seeds": [7], "invocations": [{}], "rounds": 9}, runs)
    assert config["seeds"] == [0, 1] and config["methods"] == ["majority", "mollia"]
    assert "invocations" not in config and config["rounds"] == 9


def test_a_method_on_fewer_seeds_is_its_own_invocation():
    runs = [run(s, m) for s in (0, 1, 2) for m in ("majority", "mollia-ref")]
    runs.append(run(0, "mollia-no-nl"))
    config = rm.config_from_runs({"seeds": [0, 1, 2]}, runs)
    assert config["seeds"] == [0, 1, 2]
    assert config["invocations"] == [
        {"seeds": [0, 1, 2], "strategies": ["random"], "methods": ["majority", "mollia-ref"]},
        {"seeds": [0], "strategies": ["random"], "methods": ["mollia-no-nl"]},
    ]


def test_strategies_split_invocations_too():
    runs = [run(0, "mollia", "random"), run(0, "mollia", "entropy"),
            run(0, "majority", "random")]
    grids = rm.invocations(runs)
    assert {"seeds": [0], "strategies": ["random", "entropy"], "methods": ["mollia"]} in grids
    assert {"seeds": [0], "strategies": ["random"], "methods": ["majority"]} in grids
    assert len(grids) == 2


def test_merge_pools_runs_and_rebuilds_the_config(tmp_path):
    a = part([run(s, "majority") for s in (0, 1, 2)], jobs=2, output="a.json")
    b = part([run(0, "mollia-no-nl", auc=float("nan"))], jobs=1, output="b.json")
    # a file already merged keeps where its runs came from
    b["merged_from"] = [{"path": "b0.json", "config": {"seeds": [0]}}]
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    out = tmp_path / "m.json"
    data = rm.merge_files([tmp_path / "a.json", tmp_path / "b.json", tmp_path / "b.json"],
                          out, summarise=lambda runs: {"summary": [len(runs)]})
    assert json.loads(out.read_text())["summary"] == [4]  # b's NaN run counted once
    assert data["config"]["invocations"][1] == {
        "seeds": [0], "strategies": ["random"], "methods": ["mollia-no-nl"]}
    assert data["config"]["output"] == str(out)
    assert [p["path"] for p in data["merged_from"]] == [str(tmp_path / "a.json"), "b0.json",
                                                        "b0.json"]
    only = rm.merge_files([tmp_path / "a.json", tmp_path / "b.json"], out,
                          methods=["mollia-no-nl"])
    assert only["config"]["methods"] == ["mollia-no-nl"] and len(only["runs"]) == 1


def test_merge_refuses_conflicting_runs_and_settings(tmp_path):
    a = part([run(0, "majority", acc=0.5)])
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(part([run(0, "majority", acc=0.6)])))
    with pytest.raises(ValueError, match="another run"):
        rm.merge_files([tmp_path / "a.json", tmp_path / "b.json"], tmp_path / "m.json")
    (tmp_path / "c.json").write_text(json.dumps(part([run(1, "majority")], rounds=20)))
    with pytest.raises(ValueError, match="rounds"):
        rm.merge_files([tmp_path / "a.json", tmp_path / "c.json"], tmp_path / "m.json")
    (tmp_path / "d.json").write_text(json.dumps(part([run(1, "majority")],
                                                     recordings="/elsewhere", jobs=4)))
    rm.merge_files([tmp_path / "a.json", tmp_path / "d.json"], tmp_path / "m.json")


def test_rename_method_everywhere_and_recorded():
    data = part([run(0, "mollia"), run(0, "majority")], methods=["mollia", "majority"])
    data["summary"] = [{"method": "mollia", "test_accuracy": 0.5}]
    data["merged_from"] = [{"path": "p", "config": {"methods": ["mollia"]}}]
    out = rm.rename_method(data, "mollia", "mollia-ref", "it was the reference then")
    assert [r["method"] for r in out["runs"]] == ["mollia-ref", "majority"]
    assert out["summary"][0]["method"] == "mollia-ref"
    assert out["config"]["methods"] == ["mollia-ref", "majority"]
    assert out["merged_from"][0]["config"]["methods"] == ["mollia-ref"]
    assert out["renamed_methods"] == {
        "mollia": {"now": "mollia-ref", "why": "it was the reference then"}}
    assert data["runs"][0]["method"] == "mollia"  # the input is left as it was
    with pytest.raises(ValueError, match="already"):
        rm.rename_method(out, "majority", "mollia-ref", "clash")


def test_correct_config_records_why():
    data = rm.correct_config(part([run(0, "m")]), {"max_epochs": 3}, "the default then")
    assert data["config"]["max_epochs"] == 3
    assert data["config_corrections"] == [{"set": {"max_epochs": 3},
                                           "why": "the default then"}]
