"""The model FLOPs of sampling and of a training update, counted from a model's config (its shape), for MFU.

Per token, for a decoder of L layers, width d, H query heads and KV key/value heads of size h, an MLP of
width f (3 matrices when gated, as Llama's SwiGLU, else 2) and a vocabulary of V:

    matmul parameters per layer   P = d*H*h (q) + 2*d*KV*h (k, v) + H*h*d (o) + (3 or 2)*d*f (mlp)
    forward FLOPs of one token    2*L*P                      the matrix products, 2 FLOPs per weight
                                + 4*L*H*h*c                  attention: q.k over c keys, then p.v over c values
                                + 2*d*V                      the vocabulary projection, where its logits are needed
    a training token              3x its forward             backward = 2x forward (inputs' and weights' gradients)

c is the number of positions the token attends to (itself included), so a causal sequence of n tokens after
`past` cached ones attends to n*past + n(n+1)/2 in all. These are model FLOPs (Kaplan et al. 2020, PaLM's
MFU): the useful arithmetic, not what a kernel spends on padding, norms, softmax or the embedding lookup
(no matrix product), which MFU leaves out on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

# Model types whose MLP has two matrices (up, down) rather than a gated three (gate, up, down).
_UNGATED = ("gpt2", "gpt_neox", "gptj", "opt", "bloom", "falcon", "phi", "starcoder2", "gpt_bigcode")


@dataclass(frozen=True)
class ModelShape:
    """What the FLOP count reads of a model's config."""

    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    vocab: int
    gated: bool = True

    @classmethod
    def from_config(cls, config: Any) -> ModelShape | None:
        """The shape of a transformers config (Llama, Qwen, Mistral, Gemma, SmolLM, GPT-2 names), or None
        when it lacks one of the sizes (then no MFU is reported)."""
        config = getattr(config, "text_config", None) or config  # a multimodal config's language model

        def get(*names: str) -> Any:
            return next((getattr(config, n) for n in names if getattr(config, n, None)), None)

        layers, hidden = get("num_hidden_layers", "n_layer"), get("hidden_size", "n_embd")
        heads, vocab = get("num_attention_heads", "n_head"), get("vocab_size")
        if not all(isinstance(v, int) and v > 0 for v in (layers, hidden, heads, vocab)):
            return None
        head_dim = get("head_dim") or hidden // heads
        ffn = get("intermediate_size", "n_inner", "ffn_dim") or 4 * hidden
        kv_heads = get("num_key_value_heads", "num_kv_heads") or heads
        gated = getattr(config, "model_type", "") not in _UNGATED
        return cls(layers, hidden, heads, kv_heads, head_dim, ffn, vocab, gated)

    @property
    def layer_params(self) -> int:
        """P: the weights of one layer's matrix products."""
        d, attention = self.hidden, self.heads * self.head_dim
        mlp = (3 if self.gated else 2) * d * self.ffn
        return d * attention + 2 * d * self.kv_heads * self.head_dim + attention * d + mlp

    def forward(self, tokens: int, past: int = 0, logits: int | None = None) -> int:
        """Forward FLOPs of `tokens` consecutive tokens after `past` cached ones; `logits`: how many of them
        get the vocabulary projection (default: all)."""
        if tokens <= 0:
            return 0
        attended = tokens * past + tokens * (tokens + 1) // 2  # sum of each token's context, itself included
        logits = tokens if logits is None else logits
        return (2 * self.layers * self.layer_params * tokens + 4 * self.layers * self.heads * self.head_dim * attended
                + 2 * self.hidden * self.vocab * logits)


def generation_flops(shape: ModelShape, prompt_lengths: Sequence[int],
                     completion_lengths: Sequence[Sequence[int]]) -> int:
    """Model FLOPs of sampling: each prompt prefilled once (its cache serves all its samples; logits of its
    last token only), then one decoding step per completion token after the first, each over one token with
    its logits. Multi-turn episodes count as one prompt and one completion (their observations as decoded)."""
    total = 0
    for prompt, lengths in zip(prompt_lengths, completion_lengths):
        total += shape.forward(prompt, logits=1)
        for m in lengths:  # token j (j >= 2) is drawn from the logits of the step that fed token j - 1
            total += sum(shape.forward(1, past=prompt + j) for j in range(max(m - 1, 0)))
    return total


def update_flops(shape: ModelShape, rows: Sequence[tuple[int, int]], passes: int = 1, reference: bool = False,
                 continued: Sequence[tuple[int, int]] = (), prompts: Sequence[int] = ()) -> int:
    """Model FLOPs of training on `rows` (prompt length, completion length): each row's forward over its whole
    sequence with logits at its completion tokens, times 3 for forward and backward, `passes` times (the
    epochs over the batch); plus one forward of each row through the reference model when there is one.

    With shared prompts (optim.share_prompts) each distinct prompt of a micro-batch runs once (`prompts`, their
    lengths) and its rows (`continued`) run only their completion tokens but the last after it, with logits at
    every completion token (the prompt's last position gives the first)."""
    forward = sum(shape.forward(p + m, logits=m) for p, m in rows)
    forward += sum(shape.forward(p, logits=0) for p in prompts)
    forward += sum(shape.forward(max(m - 1, 0), past=p, logits=0) + 2 * shape.hidden * shape.vocab * m
                   for p, m in continued)
    return 3 * forward * passes + (forward if reference else 0)
