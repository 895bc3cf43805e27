"""Reward presets, the reward of an ended episode, and where it is paid (docs/environment.md, "Rewards").

Components, always computed and reported whatever their weight: ``f1``, ``em``, ``sub_em`` of the
final answer against every gold alias (:mod:`jade_env.scoring`); ``format``, the sum of format
penalties; ``rounds_cost = min(rounds - free_rounds, 3) / 3`` (``free_rounds`` 0: the paper's
``min(rounds, 3) / 3``; 1: the released code's ``min(turns - 1, 3) / 3``, a direct answer costing nothing);
``retrieval_cost = min(retrieval_calls, 3) / 3``.

``global = outcome - alpha * rounds_cost - beta * retrieval_cost``.

==================  =================  ==========  ===========  =============================================
preset              outcome            format      placement    notes
==================  =================  ==========  ===========  =============================================
``jade``            F1                 -1          terminal     the paper's reward (the default)
``jade_broadcast``  F1; EM when the    -2          broadcast    as the paper's released trainer: the global
                    gold is yes/no                              reward is added to every transition;
                                                                ``free_rounds=1``
``search_r1``       EM                 -1          terminal     Search-R1's outcome reward
``mmoa``            F1                 per role    terminal     MMOA-RAG's module penalties: QR -0.5, DS -1,
                                                                AG -0.5 (other roles -1)
==================  =================  ==========  ===========  =============================================

Placement ``terminal``: the global reward is paid once, on the final step. Placement ``broadcast``:
the global reward belongs to every transition of the episode; since it is known only at the end, the
final ``info["transition_rewards"]`` lists, per agent step, its format penalty plus the global reward,
for trainers to assign; the Gymnasium step still returns the global reward on the final step.
:func:`place_rewards` is that rule, for every environment; :func:`agent_rewards` is its form per agent
(PettingZoo), where the team reward reaches every agent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from jade_env.scoring import AnswerScore, is_yes_no

OUTCOMES: tuple[str, ...] = ("f1", "em", "sub_em", "f1_or_em_yes_no")
#: the keys of :func:`reward_components`, always all present
REWARD_COMPONENTS: tuple[str, ...] = ("f1", "em", "sub_em", "format", "rounds_cost", "retrieval_cost", "yes_no_gold")
PLACEMENTS: tuple[str, ...] = ("terminal", "broadcast")


@dataclass(frozen=True, slots=True)
class RewardConfig:
    """Weights of the reward; a preset is a default set of them, every field a ``make`` keyword."""

    outcome: str = "f1"
    format_penalty: float = -1.0
    alpha: float = 0.0
    beta: float = 0.0
    placement: str = "terminal"
    role_penalties: dict[str, float] = field(default_factory=dict)
    free_rounds: int = 0

    def penalty(self, role: str) -> float:
        """The format penalty an invalid output of ``role`` costs."""
        return self.role_penalties.get(role, self.format_penalty)

    def validate(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"reward outcome {self.outcome!r} is unknown; expected one of {', '.join(OUTCOMES)}")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"reward placement {self.placement!r} is unknown; expected one of {', '.join(PLACEMENTS)}")
        if isinstance(self.free_rounds, bool) or not isinstance(self.free_rounds, int) or not 0 <= self.free_rounds <= 3:
            raise ValueError(f"free_rounds must be an integer from 0 to 3, got {self.free_rounds!r}")
        weights = {"alpha": self.alpha, "beta": self.beta, "format_penalty": self.format_penalty,
                   **{f"role_penalties[{r!r}]": v for r, v in self.role_penalties.items()}}
        for name, value in weights.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"reward weight {name}={value!r} must be a finite number")
            if name not in ("alpha", "beta") and value > 0:
                raise ValueError(f"reward weight {name}={value!r} would pay for an invalid output; a format penalty is 0 or negative")


PRESETS: dict[str, RewardConfig] = {
    "jade": RewardConfig(),
    "jade_broadcast": RewardConfig(outcome="f1_or_em_yes_no", format_penalty=-2.0, placement="broadcast", free_rounds=1),
    "search_r1": RewardConfig(outcome="em"),
    "mmoa": RewardConfig(role_penalties={"qr": -0.5, "ds": -1.0, "ag": -0.5}),
}


def make_reward_config(preset: str = "jade", **overrides: Any) -> RewardConfig:
    """The preset's weights with any field overridden (unknown presets or fields raise ValueError)."""
    if preset not in PRESETS:
        raise ValueError(f"reward preset {preset!r} is unknown; expected one of {', '.join(PRESETS)}")
    unknown = set(overrides) - set(RewardConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown reward weight(s) {sorted(unknown)}; expected {sorted(RewardConfig.__dataclass_fields__)}")
    config = replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})
    config.validate()
    return config


def reward_components(score: AnswerScore, golds: tuple[str, ...], format_total: float, rounds: int, retrieval_calls: int,
                      free_rounds: int = 0) -> dict[str, float]:
    """Every reward component of an ended episode (``free_rounds``: rounds that cost nothing, see the module docstring)."""
    return {
        "f1": score.f1,
        "em": score.em,
        "sub_em": score.sub_em,
        "format": format_total,
        "rounds_cost": min(max(rounds - free_rounds, 0), 3) / 3,
        "retrieval_cost": min(retrieval_calls, 3) / 3,
        "yes_no_gold": float(is_yes_no(golds)),
    }


def global_reward(config: RewardConfig, components: dict[str, float]) -> float:
    """``outcome - alpha * rounds_cost - beta * retrieval_cost`` under ``config``."""
    if config.outcome == "f1_or_em_yes_no":
        outcome = components["em"] if components["yes_no_gold"] else components["f1"]
    else:
        outcome = components[config.outcome]
    return outcome - config.alpha * components["rounds_cost"] - config.beta * components["retrieval_cost"]


def place_rewards(penalties: Sequence[float], reward: float | None, placement: str) -> list[float]:
    """Per transition: its format penalty plus its share of the global ``reward`` (None while the episode runs).

    ``terminal``: the global reward goes to the last transition; ``broadcast``: to every transition.
    """
    if reward is None or not penalties:
        return list(penalties)
    if placement == "broadcast":
        return [p + reward for p in penalties]
    return [*penalties[:-1], penalties[-1] + reward]


def agent_rewards(roles: Sequence[str], agents: Sequence[str], reward: float, placement: str) -> dict[str, float]:
    """The global ``reward`` per agent of a team episode whose transitions were made by ``roles``, in order.

    The team shares one outcome, so under ``terminal`` every agent receives it once, also one that never
    acted; under ``broadcast`` an agent receives its share of each of its transitions (:func:`place_rewards`).
    """
    if placement != "broadcast":
        return dict.fromkeys(agents, reward)
    totals = dict.fromkeys(agents, 0.0)
    for role, share in zip(roles, place_rewards([0.0] * len(roles), reward, placement), strict=True):
        totals[role] += share
    return totals
