"""Losses shared by the methods; each names its shapes."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def alignment_loss(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """L_A of SGE-LA (Eq. 7): sum_t sum_j (a_t(j) - l_t(j) a_t(j))^2, summed over the batch.

    scores [..., f, f] (rows t, columns j), mask [f, f] (the locality mask l). Halved and
    summed over the batch as the authors' code (tf.nn.l2_loss).
    """
    return 0.5 * ((scores - scores * mask) ** 2).sum()


def consecutive_contrastive_loss(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """L_C of LCL (Algorithm 1) for n consecutive sequences' projections z [n, K].

    Positives are adjacent sequences (k, k+1); the 2n-2 views are z_2..z_n and z_1..z_{n-1};
    l(i, j) = -log exp(sim_ij / tau) / sum_{k != i} exp(sim_ik / tau) with cosine similarity;
    L_C = 1 / (2n - 2) * sum_k [l(k, k+n-1) + l(k+n-1, k)].
    """
    n = len(z)
    views = F.normalize(torch.cat([z[1:], z[:-1]]), dim=-1)  # [2n-2, K]
    sim = views @ views.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n - 2, dtype=torch.bool, device=z.device), float("-inf"))
    pos = torch.cat([torch.arange(n - 1, 2 * n - 2), torch.arange(0, n - 1)]).to(z.device)
    return F.cross_entropy(sim, pos)


def l2_penalty(module: torch.nn.Module) -> torch.Tensor:
    """1/2 sum of squared weights, biases excluded (the authors' L2 term before its factor beta)."""
    return 0.5 * sum((p ** 2).sum() for n, p in module.named_parameters() if not n.endswith("bias"))
