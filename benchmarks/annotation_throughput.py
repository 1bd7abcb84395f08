"""Annotation throughput: reference procedure vs. KV-cache label scoring vs. warm cache.

On one random-weight local causal LM and the same texts (the demo questions), texts/second of

(a) ``reference``: the procedure of the original MoLLIA code, per text one forward pass for
    the answer probabilities plus ``k`` separate sampled ``generate`` calls, each as long as
    a real label answer (``--answer-tokens``, default: the longest label's token count);
(b) ``fast``: :class:`~skmollal.annotators.local.TransformersAnnotator` with
    ``vote_mode="sample"`` and the same ``k`` (one batched prefill per text, the prompt's KV
    cache reused for every label, votes sampled from the label distribution);
(c) ``warm_cache``: the fast annotator behind the persistent annotation cache
    (:class:`~skmollal.annotators.cache.CachedAnnotator`), second run over the same texts;

and, for information, (d) ``generate``: the annotator's faithful ``vote_mode="generate"``
(``--batch-size`` texts per ``generate`` call, prompts prefilled once and ``k`` answers sampled
from copies of their KV cache, stopping at the first line break), and (e)
``generate_per_text``: the same with one text per call (``batch_size=1``).

Usage::

    python benchmarks/annotation_throughput.py                       # CPU, small model
    python benchmarks/annotation_throughput.py --n-texts 24 --preset tiny   # quick
    python benchmarks/annotation_throughput.py --preset qwen0.5b --device cuda --batch-size 32
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # tiny_models: random-weight models, local tokenizer

#: Model shapes. ``qwen0.5b`` is Qwen2.5-0.5B's shape (random weights, its full vocabulary
#: size so the LM head costs what it really costs).
PRESETS = {
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 intermediate_size=64, vocab_size=None),
    "small": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2,
                  intermediate_size=768, vocab_size=None),
    "qwen0.5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
                     num_key_value_heads=2, intermediate_size=4864, vocab_size=151936),
    "llama1b": dict(hidden_size=2048, num_hidden_layers=16, num_attention_heads=32,
                    num_key_value_heads=8, intermediate_size=8192, vocab_size=128256),
}


def build_model(preset: str, device: str, dtype: str, seed: int):
    """A random-weight LlamaForCausalLM of the preset's shape and the tests' tokenizer.

    Preset ``smollm2`` is the real embedded SmolLM2-135M-Instruct instead.
    """
    import torch

    if preset == "smollm2":
        from skmollal.annotators.smollm2 import load_smollm2

        model, tok = load_smollm2(device)
        return model.to(getattr(torch, dtype)), tok
    from transformers import LlamaConfig, LlamaForCausalLM

    from tiny_models import tiny_tokenizer

    tok = tiny_tokenizer(chat_template=True)
    shape = dict(PRESETS[preset])
    vocab = shape.pop("vocab_size") or len(tok)
    config = LlamaConfig(vocab_size=vocab, max_position_embeddings=2048, initializer_range=0.2,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                         bos_token_id=None, tie_word_embeddings=False, **shape)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(device=device, dtype=getattr(torch, dtype)).eval()
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    if vocab > len(tok):
        # random weights over a large vocabulary rarely pick the tokenizer's ids; that is
        # fine for timing, generation length is forced below.
        pass
    return model, tok


def reference_annotate(model, tok, task, texts, k, answer_tokens, temperature, top_p):
    """(a) The reference procedure, text by text: 1 forward pass + k generate calls."""
    import torch

    from skmollal.annotators.parsing import vote_distribution

    device = next(model.parameters()).device
    first_ids = [tok.encode(label, add_special_tokens=False)[0] for label in task.labels]
    probs, votes = [], []
    for text in texts:
        prompt = tok.encode(task.render_prompt(text, tok), add_special_tokens=False)
        ids = torch.tensor([prompt], device=device)
        with torch.inference_mode():
            logits = model(input_ids=ids).logits[0, -1]
            p = torch.softmax(logits.float(), -1)[first_ids]
            answers = []
            for _ in range(k):
                out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                     do_sample=True, temperature=temperature, top_p=top_p,
                                     max_new_tokens=answer_tokens, min_new_tokens=answer_tokens,
                                     pad_token_id=tok.pad_token_id)
                answers.append(tok.decode(out[0, len(prompt):], skip_special_tokens=True))
        probs.append((p / p.sum()).cpu().numpy())
        votes.append(vote_distribution(answers, task.labels))
    return np.array(probs), np.array(votes)


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str):
    _sync(device)
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - t0


def make_cached(annotator, path: Path):
    """The fast annotator behind helper D's persistent cache, if that module exists."""
    try:
        from skmollal.annotators.cache import AnnotationCache, CachedAnnotator
    except ImportError:  # pragma: no cover - cache module not written yet
        return None
    return CachedAnnotator(annotator, AnnotationCache(path))


def write_result(path: Path, result: dict) -> dict:
    """Write ``result`` as JSON to ``path`` (folders made) and say so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(f"wrote {path}")
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS) + ["smollm2"], default="small",
                        help="random-weight model shape, or the real SmolLM2-135M")
    parser.add_argument("--n-texts", type=int, default=60, help="demo questions to annotate")
    parser.add_argument("--k", type=int, default=10, help="votes per text")
    parser.add_argument("--answer-tokens", type=int, default=None,
                        help="tokens per reference generation (default: longest label)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-generate", action="store_true", help="skip path (d)")
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / "annotation_throughput.json")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from skmollal.annotators.local import TransformersAnnotator
    from skmollal.demo import demo_task, load_demo

    texts = (load_demo().texts * (1 + args.n_texts // 180))[: args.n_texts]
    task = demo_task()
    model, tok = build_model(args.preset, args.device, args.dtype, args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    answer_tokens = args.answer_tokens or max(
        len(tok.encode(label, add_special_tokens=False)) for label in task.labels
    )

    def annotator(mode: str, batch_size: int = args.batch_size) -> TransformersAnnotator:
        return TransformersAnnotator(model, task, tokenizer=tok, n_votes=args.k,
                                     temperature=args.temperature, top_p=args.top_p,
                                     vote_mode=mode, batch_size=batch_size,
                                     random_state=args.seed, show_progress=False,
                                     max_new_tokens=answer_tokens)

    warm = texts[:2]
    rows = {}
    # (a) reference
    reference_annotate(model, tok, task, warm, 1, answer_tokens, args.temperature, args.top_p)
    _, secs = timed(lambda: reference_annotate(model, tok, task, texts, args.k, answer_tokens,
                                               args.temperature, args.top_p), args.device)
    rows["reference"] = secs
    # (b) fast path
    fast = annotator("sample")
    fast.annotate(warm)
    _, secs = timed(lambda: fast.annotate(texts), args.device)
    rows["fast"] = secs
    # (c) warm cache
    cache_note = "skmollal.annotators.cache.CachedAnnotator (SQLite)"
    with tempfile.TemporaryDirectory() as tmp:
        cached = make_cached(annotator("sample"), Path(tmp) / "cache.sqlite")
        if cached is None:
            cache_note = "TODO: cache module missing; path (c) not measured"
        else:
            cached.annotate(texts)  # cold run fills the cache
            _, secs = timed(lambda: cached.annotate(texts), args.device)
            rows["warm_cache"] = secs
    # (d) generate mode, batched, and (e) one text per generate call, for information
    if not args.skip_generate:
        for name, size in (("generate", args.batch_size), ("generate_per_text", 1)):
            gen = annotator("generate", size)
            gen.annotate(warm)
            _, secs = timed(lambda: gen.annotate(texts), args.device)
            rows[name] = secs

    n = len(texts)
    table = {name: {"seconds": s, "texts_per_s": n / s} for name, s in rows.items()}
    ref = table["reference"]["texts_per_s"]
    for row in table.values():
        row["speedup_vs_reference"] = row["texts_per_s"] / ref
    result = {
        "preset": args.preset, "n_params": n_params, "n_texts": n, "k": args.k,
        "answer_tokens": answer_tokens, "batch_size": args.batch_size, "device": args.device,
        "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor() or platform.machine(),
        "dtype": args.dtype, "threads": args.threads, "torch": torch.__version__,
        "cache": cache_note, "paths": table,
        "generate_batched_vs_per_text": (table["generate"]["texts_per_s"]
                                         / table["generate_per_text"]["texts_per_s"]
                                         if "generate" in table else None),
        "targets": {"fast/reference >= 8": table["fast"]["speedup_vs_reference"] >= 8,
                    "warm_cache/reference >= 100": table.get("warm_cache", {}).get(
                        "speedup_vs_reference", 0) >= 100},
    }
    kind = "real SmolLM2-135M-Instruct" if args.preset == "smollm2" else "random-weight llama"
    print(f"model: {kind} '{args.preset}' ({n_params / 1e6:.2f}M params), "
          f"{n} texts, k={args.k}, answer tokens={answer_tokens}, device={args.device}")
    print(f"{'path':<18} {'seconds':>9} {'texts/s':>10} {'x reference':>12}")
    for name, row in table.items():
        print(f"{name:<18} {row['seconds']:>9.3f} {row['texts_per_s']:>10.2f} "
              f"{row['speedup_vs_reference']:>12.1f}")
    if "warm_cache" not in table:
        print(cache_note)
    return write_result(args.out, result)


if __name__ == "__main__":
    main()
