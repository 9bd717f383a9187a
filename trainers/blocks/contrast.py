"""Momentum contrast (MoCo, He et al. 2020) pieces reused by the action methods.

- `momentum_update`: the key encoder as an exponential moving average of the query encoder.
- `Queue`: a fixed-size ring of L2-normalised keys (the negatives), enqueued batch by batch.
- `info_nce`: the InfoNCE loss of queries against their positive keys and the queue's negatives
  (ISC Eq. 5; cross-representation Eq. 6-8 pass the other representation's keys and queue).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


@torch.no_grad()
def momentum_update(key: nn.Module, query: nn.Module, m: float = 0.999) -> None:
    """key <- m * key + (1 - m) * query, parameter by parameter (buffers copied)."""
    for pk, pq in zip(key.parameters(), query.parameters()):
        pk.mul_(m).add_(pq.detach(), alpha=1 - m)
    for bk, bq in zip(key.buffers(), query.buffers()):
        bk.copy_(bq)


class Queue(nn.Module):
    """``size`` keys of ``dim`` values; the oldest are replaced first."""

    def __init__(self, dim: int, size: int, generator: torch.Generator | None = None):
        super().__init__()
        self.register_buffer("keys", F.normalize(torch.randn(size, dim, generator=generator), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        n, size = len(keys), len(self.keys)
        if n > size:
            keys, n = keys[-size:], size
        idx = (self.ptr + torch.arange(n, device=keys.device)) % size
        self.keys[idx] = keys.detach().to(self.keys.dtype)
        self.ptr.copy_((self.ptr + n) % size)


def info_nce(q: torch.Tensor, k: torch.Tensor, negatives: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """Mean InfoNCE of queries q [N, D] with positives k [N, D] against negatives [K, D] (all
    L2-normalised): cross-entropy with the positive as class 0."""
    pos = (q * k).sum(1, keepdim=True)
    neg = q @ negatives.t()
    logits = torch.cat([pos, neg], 1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))
