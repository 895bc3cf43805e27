"""The SFT warm start: a few supervised steps on an SFT dataset (:mod:`baselines.sft_dataset`) before PPO.

Every example becomes the token ids the policy itself would see and write: the prompt exactly as
:class:`~baselines.policies.HFChatPolicy` builds it (chat template, opening tag prefilled), the completion
the rest of the agent's action followed by the end-of-sequence token (the token that ends a constrained
output). The loss is the token mean of the completion's negative log-likelihood under the plain model
(:func:`baselines.lm_forward.completion_forward`, the same forward PPO trains on). Examples whose action
does not start with the prefilled tag (the policy could never write them) are skipped and counted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from baselines.lm_forward import completion_forward


def sft_sequences(policy, rows: Sequence[dict[str, Any]]) -> tuple[list[tuple[list[int], list[int]]], int]:
    """``(prompt ids, completion ids)`` per usable example, and the number skipped."""
    tokenizer = policy.tokenizer
    sequences, skipped = [], 0
    for row in rows:
        system, user = (m["content"] for m in row["prompt"])
        observation = {"role": row["team_role"], "system": system, "user": user}
        prefix = policy.prefix(observation)
        action = row["completion"][0]["content"]
        if not action.startswith(prefix) or row["team_role"] not in policy.roles:
            skipped += 1
            continue
        completion = tokenizer(action[len(prefix):], add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        sequences.append((policy.prompt_ids(observation), completion))
    return sequences, skipped


def supervised_finetune(model, policy, rows: Sequence[dict[str, Any]], steps: int, lr: float = 1e-4, batch_size: int = 8,
                        seed: int = 0, precision: Callable[[], Any] = contextlib.nullcontext) -> list[float]:
    """``steps`` AdamW steps of token-mean NLL on minibatches of ``rows``; the loss of every step.

    ``precision``: a context for the forward passes (such as a bfloat16 autocast).
    """
    sequences, _ = sft_sequences(policy, rows)
    if not sequences:
        raise ValueError("no SFT example can be written by this policy (none starts with its role's opening tag)")
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    pad = policy.tokenizer.pad_token_id
    losses = []
    for _ in range(steps):
        batch = [sequences[i] for i in rng.choice(len(sequences), size=min(batch_size, len(sequences)), replace=False)]
        with precision():
            out = completion_forward(model, [p for p, _ in batch], [c for _, c in batch], pad)
        loss = -out.logprobs.mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses
