"""One plain forward pass over (prompt, completion) token sequences: the completion tokens' log-probabilities.

Used by every trainer of a language-model team (the SFT warm start and token-level PPO), so that the
log-probabilities a loss is built from are always computed the same way: the model's own distribution
(``log_softmax(logits / temperature)``), with no grammar mask, top-k or repetition penalty, whatever
the samples were generated with. Sequences are right-padded (positions stay 0..L-1 for every row, the
padding is masked and comes after every real token, so causal attention never reads it); the language
head runs only on the positions that predict a completion token, so a long prompt costs no vocabulary-
sized logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class CompletionForward:
    """Per completion token, flattened over the batch in order (row by row): log-prob, last hidden state."""

    logprobs: torch.Tensor  # (tokens,)
    hidden: torch.Tensor  # (tokens, hidden size): the state that predicts the token (for a value head)
    lengths: list[int]  # completion tokens per row, to split the flat tensors back


def completion_forward(model, prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]], pad_id: int,
                       temperature: float = 1.0) -> CompletionForward:
    """The plain model's log-probability of every completion token given its prompt and the tokens before it."""
    if len(prompts) != len(completions) or not prompts:
        raise ValueError(f"expected as many prompts as completions (at least one), got {len(prompts)} and {len(completions)}")
    if any(not p for p in prompts):
        raise ValueError("every prompt needs at least one token (the first completion token is predicted from the prompt's last)")
    rows = [list(p) + list(c) for p, c in zip(prompts, completions, strict=True)]
    width = max(len(r) for r in rows)
    device = next(model.parameters()).device
    ids = torch.tensor([r + [pad_id] * (width - len(r)) for r in rows], device=device)
    attention = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=device)
    # position j predicts token j + 1: the completion tokens of row i are predicted at [len(p) - 1, len(p) - 1 + len(c))
    predicts = torch.zeros(len(rows), width, dtype=torch.bool, device=device)
    for i, (p, c) in enumerate(zip(prompts, completions, strict=True)):
        predicts[i, len(p) - 1: len(p) - 1 + len(c)] = True
    hidden = model.base_model(input_ids=ids, attention_mask=attention).last_hidden_state
    chosen = hidden[predicts]
    targets = ids[:, 1:][predicts[:, :-1]]  # the last column predicts nothing
    logits = model.get_output_embeddings()(chosen).float() / temperature
    logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return CompletionForward(logprobs, chosen, [len(c) for c in completions])
