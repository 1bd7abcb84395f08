"""Tiny causal language models for tests: random weights, locally built tokenizer, no downloads.

``tiny_llama()`` and ``tiny_gpt2()`` return ``(model, tokenizer)``. The tokenizer is a
byte-level BPE trained in memory on a few sentences (so label names split into several tokens
of different lengths), wrapped in :class:`transformers.PreTrainedTokenizerFast`. The llama
tokenizer has a ChatML chat template (like SmolLM2); the gpt2 one has none by default, so
both prompt layouts get exercised.
"""
from __future__ import annotations

import functools

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

__all__ = ["tiny_llama", "tiny_gpt2", "tiny_tokenizer", "brute_force_logprob",
           "save_tiny_llama", "CHATML_TEMPLATE",
           "TRAINING_TEXT"]

#: A ChatML chat template as SmolLM2 / Qwen use it.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: Text the tokenizer's BPE merges are learnt from.
TRAINING_TEXT = [
    "Classify the text into exactly one of these categories.",
    "Answer with the category name only.",
    "abbreviation entity description human location numeric",
    "positive negative neutral yes no",
    "What is the capital of France? Who wrote Hamlet? How many legs does a spider have?",
    "When did the war end? Where is Mount Everest? What does NASA stand for?",
    "The quick brown fox jumps over the lazy dog.",
    "system user assistant Text: Answer:",
] * 4

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]


@functools.lru_cache(maxsize=None)
def _trained_tokenizer_json(vocab_size: int) -> str:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(TRAINING_TEXT, trainer=trainer)
    return tok.to_str()


def tiny_tokenizer(chat_template: bool = True, vocab_size: int = 400) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer built locally (any text encodes; nothing is unknown).

    Parameters
    ----------
    chat_template : bool, default=True
        Set :data:`CHATML_TEMPLATE` as the chat template (``<|im_end|>`` is then eos).
    vocab_size : int, default=400
        BPE vocabulary size (256 byte tokens + specials + merges).
    """
    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_trained_tokenizer_json(vocab_size)),
        bos_token=None,
        eos_token="<|im_end|>" if chat_template else "<|endoftext|>",
        pad_token="<|pad|>",
        unk_token=None,
    )
    if chat_template:
        tok.chat_template = CHATML_TEMPLATE
    return tok


def _finish(model: torch.nn.Module, tok: PreTrainedTokenizerFast) -> torch.nn.Module:
    model.eval()
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.bos_token_id = None
    return model


def tiny_llama(
    seed: int = 0,
    chat_template: bool = True,
    hidden_size: int = 32,
    num_hidden_layers: int = 2,
    initializer_range: float = 0.2,
):
    """A tiny random-weight Llama causal LM and its tokenizer.

    Grouped-query attention (4 heads, 2 key/value heads) and rotary positions, like the
    real small Llama-family models. ``initializer_range`` is larger than usual so that the
    next-token distribution is far from uniform.

    Returns
    -------
    (model, tokenizer)
    """
    tok = tiny_tokenizer(chat_template=chat_template)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        initializer_range=initializer_range,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    return _finish(LlamaForCausalLM(config), tok), tok


def tiny_gpt2(
    seed: int = 0,
    chat_template: bool = False,
    hidden_size: int = 32,
    num_hidden_layers: int = 2,
    initializer_range: float = 0.2,
):
    """A tiny random-weight GPT-2 causal LM (absolute positions) and its tokenizer.

    Returns
    -------
    (model, tokenizer)
    """
    tok = tiny_tokenizer(chat_template=chat_template)
    config = GPT2Config(
        vocab_size=len(tok),
        n_embd=hidden_size,
        n_layer=num_hidden_layers,
        n_head=4,
        n_positions=1024,
        initializer_range=initializer_range,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=None,
    )
    torch.manual_seed(seed)
    return _finish(GPT2LMHeadModel(config), tok), tok


def teach(model, tokenizer, task, pairs, steps: int = 150, lr: float = 3e-2, seed: int = 0):
    """Train ``model`` in place to answer ``task`` prompts with the paired label, then eos.

    A few seconds of Adam on the answer tokens only; gives a tiny model whose generations
    are real label names, to test the ``generate`` vote path end to end.

    Parameters
    ----------
    pairs : sequence of (text, label)
    """
    torch.manual_seed(seed)
    prefix = task.answer_prefix(tokenizer)
    rows = []
    for text, label in pairs:
        prompt = tokenizer.encode(task.render_prompt(text, tokenizer), add_special_tokens=False)
        answer = tokenizer.encode(prefix + label, add_special_tokens=False) + [tokenizer.eos_token_id]
        rows.append((prompt, answer))
    width = max(len(p) + len(a) for p, a in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (p, a) in enumerate(rows):
        seq = p + a
        ids[i, : len(seq)] = torch.tensor(seq)
        labels[i, len(p): len(seq)] = torch.tensor(a)
        mask[i, : len(seq)] = 1
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
    model.eval()
    return float(loss.detach())


def brute_force_logprob(model, prompt_ids, label_ids) -> float:
    """log p(label | prompt) from one unpadded forward pass over prompt + label."""
    ids = torch.tensor([list(prompt_ids) + list(label_ids)])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), dim=-1)
    start = len(prompt_ids) - 1
    return sum(logp[start + j, t].item() for j, t in enumerate(label_ids))


def save_tiny_llama(folder, **kwargs):
    """Save ``tiny_llama(**kwargs)`` (model and tokenizer) into ``folder``, a model folder
    as ``--annotator PATH`` takes it; return the model."""
    model, tok = tiny_llama(**kwargs)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return model
