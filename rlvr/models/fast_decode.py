"""The sampler's decoding step for Llama-family models on the CPU, without transformers' per-step machinery.

    decoder = FastDecoder.for_model(model)       # None: not a model this step knows; the sampler keeps transformers'
    state = decoder.start(cache, attention, next_position)  # after transformers prefilled the prompts into `cache`
    logits = state.step(token)                    # (rows, vocabulary), float32: the next token's logits
    state.keep(rows)                              # finished rows leave the batch (sampler.refill's order)

A decoding step is one token per row through every layer. Around a small model's arithmetic transformers spends much
of a step: the attention masks built again at every step, a KV cache grown by a copy of itself at every step
(`torch.cat`), three query/key/value and two gate/up products where one each would do, weights in the layout the
matrix library must reorder at every product. This step, for the models whose layers it knows (Llama, Mistral and
Qwen2 without sliding windows; their layers are a fixed recipe):
- multiplies by weights packed once for the CPU's matrix library (oneDNN's reordered layout, where torch has it), the
  query, key and value projections as one product and the gate and up projections as one: on the README's 2-core
  AMD EPYC, 64 rows x 576 x 960 in bf16 ran at 0.39 TFLOP/s packed against 0.27 for the 576 x 576 query alone;
- keeps the KV cache in blocks (`BLOCK` positions at a time), so a step writes its key and value in place instead of
  copying the cache; a bf16 step attends over the written positions in torch's fused kernel, the query heads grouped
  onto the key/value heads (rlvr/models/attention.py's `fused_attention`: 1.10x the bf16 sampler's tokens/s at 64
  rows on the README's Intel Xeon with AMX), a float32 one with two products over the whole block, the unwritten
  positions masked out;
- computes in the recipe's order and precisions: RMSNorm in float32 and back, rotary tables from the model's own
  rotary module (any rope scaling it does), the scores soft-maxed in float32, the residual sums in the weights'
  precision. Its logits equal transformers' up to floating point (the packed products sum in another order).

The packed weights are copies. They are made again after the engine's `push_weights` (which the trainer calls after
every update) and whenever a parameter changed since the last packing (torch counts every in-place write to a tensor,
an optimizer step's too; a parameter given new storage changes its address), so a step never reads stale weights.
The copy costs the memory of the model's matrices once more: the step is not used when that would take more than a
quarter of the free memory. Prompts (and everything that is not a
single new token) still run through transformers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from rlvr.models.attention import fused_attention

# The layers whose recipe this step reproduces: pre-norm RMSNorm, rotary attention (biases allowed), a SiLU-gated MLP.
KNOWN_LAYERS = frozenset({"LlamaDecoderLayer", "MistralDecoderLayer", "Qwen2DecoderLayer"})
BLOCK = 32  # KV cache positions allocated at a time: a block's copy is paid once per BLOCK steps


def sliding(config: Any) -> bool:
    """Whether a model's attention slides over a window in any layer (its cache then keeps only the window)."""
    types = getattr(config, "layer_types", None)
    if types is not None:
        return any(t != "full_attention" for t in types)
    return getattr(config, "sliding_window", None) is not None


def _packing() -> bool:
    """Whether this torch can reorder a weight for oneDNN's CPU matrix products."""
    ops = getattr(torch.ops, "mkldnn", None)
    return (torch.backends.mkldnn.is_available() and ops is not None and hasattr(ops, "_reorder_linear_weight")
            and hasattr(ops, "_linear_pointwise"))


@dataclass
class _Linear:
    """One packed product: y = x W^T + b."""

    weight: torch.Tensor  # packed for oneDNN, or plain (out, in)
    bias: torch.Tensor | None
    packed: bool

    @classmethod
    def of(cls, weights: list[torch.Tensor], biases: list[torch.Tensor | None], rows: int) -> _Linear:
        weight = torch.cat(weights) if len(weights) > 1 else weights[0].detach()  # packing copies it
        bias = None
        if any(b is not None for b in biases):
            bias = torch.cat([b if b is not None else weight.new_zeros(w.shape[0]) for w, b in zip(weights, biases)])
        if _packing():
            try:
                return cls(torch.ops.mkldnn._reorder_linear_weight(weight, rows), bias, True)
            except RuntimeError:  # a dtype or shape oneDNN does not pack: the plain product
                pass
        return cls(weight, bias, False)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.packed:
            return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")
        return F.linear(x, self.weight, self.bias)


class FastDecoder:
    """The decoding step of one model; its packed weights follow the model's parameters."""

    def __init__(self, model: torch.nn.Module, rows: int = 64):
        self.model = model
        self.rows = rows  # the row count the products are packed for (any count runs)
        self._packed_from: list[tuple[int, int, int]] | None = None  # (id, storage, version) of each parameter
        self._layers: list[dict[str, Any]] = []
        self._head: _Linear | None = None

    @classmethod
    def for_model(cls, model: torch.nn.Module, rows: int = 64) -> FastDecoder | None:
        """The step for `model`, or None when this step does not know its layers (transformers then decodes)."""
        config = getattr(model, "config", None)
        inner = getattr(model, "model", None)
        layers = getattr(inner, "layers", None)
        if config is None or layers is None or not len(layers) or sliding(config):
            return None
        head = getattr(model, "lm_head", None)
        if getattr(config, "hidden_act", None) != "silu" or type(head) is not torch.nn.Linear:
            return None
        if any(p.device.type != "cpu" for p in model.parameters()):
            return None
        for name in ("embed_tokens", "norm", "rotary_emb"):
            if not hasattr(inner, name):
                return None
        for layer in layers:
            if not any(c.__name__ in KNOWN_LAYERS for c in type(layer).__mro__):  # FSDP subclasses the layer
                return None
            attn, mlp = layer.self_attn, layer.mlp
            linears = [attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj, mlp.gate_proj, mlp.up_proj, mlp.down_proj]
            if any(type(m) is not torch.nn.Linear for m in linears):  # a LoRA or quantised layer: transformers decodes
                return None
        return cls(model, rows)

    def invalidate(self) -> None:
        """The weights changed (the engine's `push_weights`): pack them again before the next step."""
        self._packed_from = None

    def ready(self, free_bytes: float) -> bool:
        """Whether this step can decode now, its weights packed from the model's current parameters; not when the
        packed copy would take more than a quarter of `free_bytes`, the free memory. A model sharded by FSDP or
        DeepSpeed samples inside the trainer's gather (`gathered()`), so the packing reads the whole weights."""
        params = list(self.model.parameters())
        # Every in-place write bumps a tensor's version; a new storage (`p.data = ...`) changes its address.
        current = [(id(p), p.untyped_storage().data_ptr(), p._version) for p in params]
        if current == self._packed_from:
            return True
        self._packed_from = None
        self._layers, self._head = [], None  # the old copies go before the new ones are made
        linear = sum(m.weight.numel() * m.weight.element_size() for m in self.model.modules()
                     if type(m) is torch.nn.Linear)
        if linear > free_bytes / 4:
            return False
        self._pack()
        self._packed_from = current
        return True

    # -- weights ------------------------------------------------------------------------------------------------
    def _pack(self) -> None:
        inner = self.model.model
        for layer in inner.layers:
            attn, mlp = layer.self_attn, layer.mlp
            qkv = [attn.q_proj, attn.k_proj, attn.v_proj]
            self._layers.append({
                "qkv": _Linear.of([m.weight for m in qkv], [m.bias for m in qkv], self.rows),
                "o": _Linear.of([attn.o_proj.weight], [attn.o_proj.bias], self.rows),
                "gate_up": _Linear.of([mlp.gate_proj.weight, mlp.up_proj.weight],
                                      [mlp.gate_proj.bias, mlp.up_proj.bias], self.rows),
                "down": _Linear.of([mlp.down_proj.weight], [mlp.down_proj.bias], self.rows),
                "norm1": layer.input_layernorm, "norm2": layer.post_attention_layernorm,
                "q": attn.q_proj.out_features, "kv": attn.k_proj.out_features, "scale": attn.scaling,
                "gate": mlp.gate_proj.out_features,
            })
        self._head = _Linear.of([self.model.lm_head.weight], [self.model.lm_head.bias], self.rows)

    # -- decoding -----------------------------------------------------------------------------------------------
    def start(self, cache: Any, attention: torch.Tensor, next_position: torch.Tensor) -> DecodeState:
        """The decoding state after transformers' prefill: `cache` holds each row's prompt (rows x heads x T x d a
        layer), `attention` (rows, T) marks its real positions (0: left padding), `next_position` (rows,) the
        position of each row's next token. Call `ready()` first."""
        return DecodeState(self, _cache_tensors(cache), attention, next_position)


def _cache_tensors(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(keys, values) of each layer of a transformers DynamicCache, any version since 4.56."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache))


def _rms_norm(x: torch.Tensor, norm: torch.nn.Module) -> torch.Tensor:
    """transformers' Llama RMSNorm: in float32, then back to the input's precision before the weight (torch's fused
    kernel for the float32 part: one call instead of five)."""
    return norm.weight * F.rms_norm(x.float(), x.shape[-1:], eps=norm.variance_epsilon).to(x.dtype)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


class DecodeState:
    """The KV cache and positions of the rows being decoded, in blocks of `BLOCK` positions."""

    def __init__(self, decoder: FastDecoder, layers: list[tuple[torch.Tensor, torch.Tensor]],
                 attention: torch.Tensor, next_position: torch.Tensor):
        self.decoder = decoder
        rows, _, length, _ = layers[0][0].shape
        self.length = length  # positions written
        capacity = _round_up(length + 1)
        self.keys, self.values = [], []
        for keys, values in layers:
            k = keys.new_zeros(keys.shape[:2] + (capacity, keys.shape[3]))
            v = values.new_zeros(values.shape[:2] + (capacity, values.shape[3]))
            k[:, :, :length] = keys
            v[:, :, :length] = values
            self.keys.append(k)
            self.values.append(v)
        self.mask = torch.full((rows, capacity), -torch.inf)  # float32, added to the scores
        self.mask[:, :length].masked_fill_(attention.bool(), 0.0)
        self.next_position = next_position.clone()

    def keep(self, rows: torch.Tensor) -> None:
        """Only `rows` (indices into the current rows, in their new order) decode on.

        When `rows` keeps the first rows in place and moves later rows into the gaps (the sampler's `refill`
        order), only the moved rows are copied and the rest is the same memory, narrowed; any other order copies
        the whole cache."""
        n = len(rows)
        moved = (rows != torch.arange(n, device=rows.device)).nonzero().squeeze(-1)
        source = rows[moved]
        if bool((source >= n).all()):  # a prefix stays: fill its gaps from behind it, in place
            for store in (self.keys, self.values):
                for i, tensor in enumerate(store):
                    tensor[moved] = tensor[source]
                    store[i] = tensor[:n]
            self.mask[moved] = self.mask[source]
            self.next_position[moved] = self.next_position[source]
            self.mask, self.next_position = self.mask[:n], self.next_position[:n]
            return
        self.keys = [k[rows] for k in self.keys]
        self.values = [v[rows] for v in self.values]
        self.mask, self.next_position = self.mask[rows], self.next_position[rows]

    def _grow(self) -> None:
        capacity = self.mask.shape[1] + BLOCK
        for store in (self.keys, self.values):
            for i, old in enumerate(store):
                new = old.new_zeros(old.shape[:2] + (capacity, old.shape[3]))
                new[:, :, : old.shape[2]] = old
                store[i] = new
        self.mask = torch.cat([self.mask, self.mask.new_full((self.mask.shape[0], BLOCK), -torch.inf)], dim=1)

    def step(self, token: torch.Tensor) -> torch.Tensor:
        """The logits (rows, vocabulary), float32, after each row's `token` (rows,) at its next position."""
        decoder = self.decoder
        inner = decoder.model.model
        if self.length == self.mask.shape[1]:
            self._grow()
        column = self.length
        self.mask[:, column] = 0.0
        rows = token.shape[0]
        h = inner.embed_tokens(token)  # (rows, hidden)
        cos, sin = inner.rotary_emb(h, self.next_position[:, None])  # (rows, 1, head_dim)
        written = column + 1
        fused = fused_attention(h.dtype)
        # Added to the scores; the fused kernel takes it in the weights' precision (0 and -inf are exact in bf16).
        mask = self.mask[:, None, None, :written].to(h.dtype) if fused else self.mask[:, None, None, :]
        for layer, keys, values in zip(decoder._layers, self.keys, self.values):
            dim = keys.shape[-1]
            kv_heads = keys.shape[1]
            qkv = layer["qkv"](_rms_norm(h, layer["norm1"]))
            qk, v = qkv.split((layer["q"] + layer["kv"], layer["kv"]), dim=-1)
            qk = _rotate(qk.view(rows, -1, dim), cos, sin)  # (rows, heads + kv heads, d): queries and keys at once
            q = qk[:, : layer["q"] // dim]
            keys[:, :, column] = qk[:, layer["q"] // dim :]
            values[:, :, column] = v.view(rows, kv_heads, dim)
            if fused:  # scores (float32), softmax and values in one call, over the written positions only
                out = F.scaled_dot_product_attention(q[:, :, None], keys[:, :, :written], values[:, :, :written],
                                                     attn_mask=mask, scale=layer["scale"], enable_gqa=True)
            else:
                grouped = q.reshape(rows, kv_heads, -1, dim)  # (rows, kv heads, G, d): G query heads a kv head
                scores = torch.matmul(grouped, keys.transpose(-1, -2)).float() * layer["scale"] + mask
                out = torch.matmul(torch.softmax(scores, dim=-1).to(values.dtype), values)
            out = out.reshape(rows, -1)
            h = h + layer["o"](out)
            gate, up = layer["gate_up"](_rms_norm(h, layer["norm2"])).split(layer["gate"], dim=-1)
            h = h + layer["down"](F.silu(gate) * up)
        self.length += 1
        self.next_position = self.next_position + 1
        assert decoder._head is not None
        return decoder._head(_rms_norm(h, inner.norm)).float()


def _round_up(n: int) -> int:
    return -(-n // BLOCK) * BLOCK
