"""The model FLOP count (rlvr/models/flops.py) against a hand count of a tiny Llama, and against torch's own
FLOP counter run over that model's forward pass."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, LlamaConfig, LlamaForCausalLM

from rlvr.models.flops import ModelShape, generation_flops, update_flops

# d = 32, 2 layers, 4 query heads and 2 key/value heads of 8, a gated MLP of 64, a vocabulary of 100.
CONFIG = dict(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=64)
# One layer's matrix-product weights, by hand: q 32x32, k and v 32x16 each, o 32x32, gate, up and down 32x64 each.
LAYER = 32 * 32 + 2 * 32 * 16 + 32 * 32 + 3 * 32 * 64  # 9216
LM_HEAD = 32 * 100


def test_the_shape_of_a_llama_config():
    shape = ModelShape.from_config(LlamaConfig(**CONFIG))
    assert shape == ModelShape(layers=2, hidden=32, heads=4, kv_heads=2, head_dim=8, ffn=64, vocab=100, gated=True)
    assert shape.layer_params == LAYER


def test_the_forward_count_by_hand():
    shape = ModelShape.from_config(LlamaConfig(**CONFIG))
    # 3 tokens, no cache: the weights 2 FLOPs each per token; token i attends to i positions (1 + 2 + 3 = 6), each
    # costing a q.k and a p.v of 4 heads x 8 = 32 multiply-adds per layer; logits for all 3.
    matmuls = 2 * (2 * LAYER) * 3
    attention = 2 * 2 * (4 * 8) * 6 * 2  # (q.k + p.v) x 2 FLOPs x 32 x 6 positions x 2 layers
    logits = 2 * LM_HEAD * 3
    assert shape.forward(3) == matmuls + attention + logits == 131328
    # One token after 5 cached ones attends to 6 positions; without its logits.
    assert shape.forward(1, past=5, logits=0) == 2 * 2 * LAYER + 2 * 2 * 32 * 6 * 2


def test_generation_and_update_by_hand():
    shape = ModelShape.from_config(LlamaConfig(**CONFIG))
    # A 5-token prompt prefilled once (logits of its last token only), then its two samples of 3 and 1 tokens:
    # the 3-token one needs 2 decoding steps, over tokens at positions 6 and 7; the 1-token one none.
    prefill = 2 * 2 * LAYER * 5 + 2 * 2 * 32 * (1 + 2 + 3 + 4 + 5) * 2 + 2 * LM_HEAD
    steps = sum(2 * 2 * LAYER + 2 * 2 * 32 * c * 2 + 2 * LM_HEAD for c in (6, 7))
    assert generation_flops(shape, [5], [[3, 1]]) == prefill + steps
    # Training a row of prompt 5 and completion 3: its 8 tokens forward, logits at the 3 completion tokens, x3.
    forward = 2 * 2 * LAYER * 8 + 2 * 2 * 32 * 36 * 2 + 2 * LM_HEAD * 3
    assert update_flops(shape, [(5, 3)]) == 3 * forward
    assert update_flops(shape, [(5, 3)], passes=2, reference=True) == 7 * forward


def test_the_matrix_products_match_torchs_flop_counter():
    """torch counts every matrix product of a real forward pass; its attention is the full n x n square (the
    causal mask does not make the product smaller), so the reference replaces the causal sum with n * n."""
    from torch.utils.flop_counter import FlopCounterMode

    model = LlamaForCausalLM(LlamaConfig(**CONFIG, attn_implementation="eager")).eval()
    n = 7
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.arange(1, n + 1)[None])
    shape = ModelShape.from_config(model.config)
    causal = shape.forward(n)
    square = causal - 4 * 2 * 32 * (n * (n + 1) // 2) + 4 * 2 * 32 * n * n
    assert counter.get_total_flops() == square


def test_shared_prompts_count_each_prompt_once():
    """Two rows of one 5-token prompt with 3- and 1-token completions, the prompt run once: its 5 tokens, then
    each row's completion tokens but the last after it, and logits at every completion token."""
    shape = ModelShape.from_config(LlamaConfig(**CONFIG))
    prompt = shape.forward(5, logits=0)
    rows = shape.forward(2, past=5, logits=0) + 2 * LM_HEAD * 3 + 2 * LM_HEAD * 1  # the 1-token row: logits only
    assert update_flops(shape, [], continued=[(5, 3), (5, 1)], prompts=[5]) == 3 * (prompt + rows)
    whole = update_flops(shape, [(5, 3), (5, 1)])
    shared = update_flops(shape, [], continued=[(5, 3), (5, 1)], prompts=[5])
    assert shared < whole  # one prompt pass instead of two, and no pass over each row's last token


def test_the_shared_prompt_count_matches_torchs_flop_counter():
    """The matrix products of head.shared_prompt_logprobs on two rows of one prompt, counted by torch (its
    attention is each query against every key it is given, so the reference swaps the causal sums for those;
    the decoder runs the padded columns, the vocabulary projection only the real completion tokens)."""
    from torch.utils.flop_counter import FlopCounterMode

    from rlvr.models.head import shared_prompt_logprobs
    from rlvr.models.logprobs import left_pad

    model = LlamaForCausalLM(LlamaConfig(**CONFIG, attn_implementation="eager")).eval()
    p, lengths = 5, (3, 2)
    batch = left_pad([list(range(1, p + 1))] * 2, [[7, 8, 9], [7, 8]])
    batch["prompt_index"] = torch.tensor([0, 0])
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        shared_prompt_logprobs(model, batch, 1.0, None)
    shape = ModelShape.from_config(model.config)
    t = max(lengths) - 1  # completion tokens fed per row (padded to the longest)
    logits = 2 * shape.hidden * shape.vocab * sum(lengths)  # at the real completion tokens only, not the padding
    counted = shape.forward(p, logits=0) + 2 * shape.forward(t, past=p, logits=0) + logits
    attention = 4 * 2 * 32  # (q.k + p.v) x 2 FLOPs x 32 per query-key pair, a layer
    causal = p * (p + 1) // 2 + 2 * (t * p + t * (t + 1) // 2)
    square = p * p + 2 * t * (p + t)
    assert counter.get_total_flops() == counted + attention * (square - causal)


def test_other_config_names_and_a_config_without_sizes():
    gpt2 = ModelShape.from_config(GPT2Config(n_embd=64, n_layer=3, n_head=4, vocab_size=50))
    assert (gpt2.layers, gpt2.hidden, gpt2.heads, gpt2.kv_heads, gpt2.ffn, gpt2.gated) == (3, 64, 4, 4, 256, False)
    assert ModelShape.from_config(object()) is None


@pytest.mark.parametrize("tokens", [0, -1])
def test_no_tokens_no_flops(tokens):
    assert ModelShape.from_config(LlamaConfig(**CONFIG)).forward(tokens) == 0
