"""Merge benchmark result files and rebuild their recorded configuration from their runs.

A result file records the arguments it was made with (``config``) next to its ``runs``, one
per (seed, strategy, method). When several invocations (seeds or methods run apart) are
merged into one file, the first file's ``config`` no longer says what the runs are: one
method may have run on fewer seeds than another. :func:`config_from_runs` rebuilds it from
the runs themselves: the seeds, strategies and methods they hold and, when they do not form
one full grid, ``invocations``: the fewest full grids (``seeds`` x ``strategies`` x
``methods``) that hold exactly those runs, one command each. ``tests/test_docs.py`` checks
that the command a benchmark page shows is those invocations.

:func:`rename_method` gives a method of an older file the name it has now (a benchmark
method whose meaning changed keeps one name per meaning across all files), and records the
rename in the file.
"""
from __future__ import annotations

import json
from pathlib import Path

#: the keys of a run that one invocation varies; the rest of ``config`` is shared
GRID_KEYS = ("seed", "strategy", "method")
#: config entries that do not change a result (where it is written, how it is run)
BOOKKEEPING = frozenset({"output", "plot", "merge", "jobs", "replot", "recordings",
                         "embed_cache"})


def _dump(run: dict) -> str:
    """A run as text, to compare two runs (NaN equals NaN here)."""
    return json.dumps(run, sort_keys=True)


def _ordered(values) -> list:
    return list(dict.fromkeys(values))


def invocations(runs: list[dict]) -> list[dict]:
    """The fewest full grids that hold exactly ``runs``, in the order the runs came.

    Each grid is ``{"seeds": [...], "strategies": [...], "methods": [...]}``: one invocation
    of the benchmark that runs every seed x strategy x method of it. Methods that ran on the
    same seeds and strategies share a grid.
    """
    cells: dict[tuple, list] = {}
    for r in runs:
        cells.setdefault((r["strategy"], r["method"]), []).append(r["seed"])
    strategies_of: dict[tuple, list] = {}  # (method, seeds) -> strategies
    for (strategy, method), seeds in cells.items():
        strategies_of.setdefault((method, tuple(sorted(set(seeds)))), []).append(strategy)
    grids: dict[tuple, list] = {}  # (seeds, strategies) -> methods
    for (method, seeds), strategies in strategies_of.items():
        grids.setdefault((seeds, tuple(strategies)), []).append(method)
    return [{"seeds": list(seeds), "strategies": list(strategies), "methods": methods}
            for (seeds, strategies), methods in grids.items()]


def config_from_runs(base: dict, runs: list[dict]) -> dict:
    """``base`` (the shared settings) with the seeds, strategies and methods of ``runs``.

    ``invocations`` (see :func:`invocations`) is added when the runs are not one full grid
    and removed when they are.
    """
    if not runs:
        raise ValueError("no runs to rebuild a configuration from")
    config = {k: v for k, v in base.items() if k != "invocations"}
    config.update(seeds=sorted({r["seed"] for r in runs}),
                  strategies=_ordered(r["strategy"] for r in runs),
                  methods=_ordered(r["method"] for r in runs), merge=None)
    grids = invocations(runs)
    if len(grids) > 1:
        config["invocations"] = grids
    return config


def check_compatible(parts: list[tuple[str, dict]]) -> None:
    """Refuse to merge files run with different settings (other than the grid's keys)."""
    first = parts[0][1]["config"]
    varying = {"seeds", "strategies", "methods", "invocations"} | BOOKKEEPING
    for path, data in parts[1:]:
        differ = sorted(k for k in set(first) & set(data["config"])
                        if k not in varying and first[k] != data["config"][k])
        if differ:
            raise ValueError(f"{path} was run with other settings: {', '.join(differ)}")


def merged_runs(parts: list[tuple[str, dict]], methods: list[str] | None = None) -> list[dict]:
    """The runs of all ``parts`` (only ``methods`` when given), each (classifier, seed,
    strategy, method) once: a run held by two files must be the same run in both."""
    runs: dict[tuple, dict] = {}
    for path, data in parts:
        for r in data["runs"]:
            if methods is not None and r["method"] not in methods:
                continue
            key = (r.get("classifier"),) + tuple(r[k] for k in GRID_KEYS)
            if key in runs and _dump(runs[key]) != _dump(r):
                raise ValueError(f"{path} holds another run of {key} than an earlier file")
            runs.setdefault(key, r)
    if not runs:
        raise ValueError("the files hold no runs" + (f" of {methods}" if methods else ""))
    return list(runs.values())


def provenance(parts: list[tuple[str, dict]]) -> list[dict]:
    """``merged_from`` of the merge: every part's path and config, a merged part's own
    parts in its place (so that re-merging a merged file keeps where its runs came from)."""
    out = []
    for path, data in parts:
        if data.get("merged_from"):
            out.extend(data["merged_from"])
        else:
            out.append({"path": path, "config": data["config"]})
    return out


def merge_files(json_paths, out_path: Path, methods: list[str] | None = None,
                summarise=None) -> dict:
    """One result file from several (or one re-merged): runs pooled, config rebuilt.

    Parameters
    ----------
    json_paths : list of path-like
        The result files; ``out_path`` may be one of them.
    out_path : Path
        Where the merged file is written.
    methods : list of str, optional
        Keep only the runs of these methods.
    summarise : callable, optional
        ``summarise(runs) -> dict`` of the further entries of the file (its tables).

    Returns
    -------
    dict
        The merged file's content.
    """
    parts = [(str(p), json.loads(Path(p).read_text())) for p in json_paths]
    check_compatible(parts)
    runs = merged_runs(parts, methods)
    config = config_from_runs({**parts[0][1]["config"], "output": str(out_path)}, runs)
    out = {"config": config, "merged_from": provenance(parts)}
    renamed = {k: v for _, data in parts for k, v in data.get("renamed_methods", {}).items()}
    corrections = [c for i, (_, data) in enumerate(parts)
                   for c in data.get("config_corrections", [])
                   if c not in [d for _, p in parts[:i] for d in p.get("config_corrections", [])]]
    if renamed:
        out["renamed_methods"] = renamed
    if corrections:
        out["config_corrections"] = corrections
    out.update(summarise(runs) if summarise else {})
    out["runs"] = runs
    Path(out_path).write_text(json.dumps(out, indent=1))
    return out


def correct_config(data: dict, values: dict, why: str) -> dict:
    """``data`` with ``config`` entries set to ``values`` (what the runs were made with but
    the file did not record, e.g. a default that has changed since), noted with ``why``."""
    out = dict(data)
    out["config"] = {**data["config"], **values}
    out["config_corrections"] = [*data.get("config_corrections", []),
                                 {"set": values, "why": why}]
    return out


def _rename_in(obj, old: str, new: str):
    """``obj`` with every ``"method": old`` entry of a dict (at any depth) set to ``new``."""
    if isinstance(obj, dict):
        return {k: (new if k == "method" and v == old else _rename_in(v, old, new))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rename_in(v, old, new) for v in obj]
    return obj


def rename_method(data: dict, old: str, new: str, why: str) -> dict:
    """``data`` (a result file's content) with method ``old`` called ``new`` everywhere.

    The runs, the tables, ``config["methods"]`` and ``merged_from`` follow; the file's
    ``renamed_methods`` records ``old -> new`` and ``why``.
    """
    if any(r["method"] == new for r in data.get("runs", [])):
        raise ValueError(f"the file already has runs of {new!r}")
    out = _rename_in(data, old, new)

    def rename_list(config):
        if isinstance(config.get("methods"), list):
            config["methods"] = [new if m == old else m for m in config["methods"]]
        for grid in config.get("invocations", []):
            grid["methods"] = [new if m == old else m for m in grid["methods"]]

    rename_list(out["config"])
    for part in out.get("merged_from", []):
        rename_list(part["config"])
    out["renamed_methods"] = {**data.get("renamed_methods", {}),
                              old: {"now": new, "why": why}}
    return out


def main(argv=None) -> None:
    """``rename FILE OLD NEW WHY`` or ``rebuild FILE``: rewrite a result file in place."""
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="action", required=True)
    r = sub.add_parser("rename", help="give a method of an older file its name of today")
    r.add_argument("file")
    r.add_argument("old")
    r.add_argument("new")
    r.add_argument("why")
    b = sub.add_parser("rebuild", help="rebuild config from the runs (tables unchanged)")
    b.add_argument("file")
    args = p.parse_args(argv)
    path = Path(args.file)
    data = json.loads(path.read_text())
    if args.action == "rename":
        data = rename_method(data, args.old, args.new, args.why)
    else:
        data = {**data, "config": config_from_runs(data["config"], data["runs"])}
    path.write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()
