"""``CandidateActionEnv``: the team env with ``Discrete(N)`` actions and masks, for SB3 / sb3-contrib / tianshou.

Each step, the acting role's candidates (:mod:`baselines.candidates`) become the actions; the
observation is a flat ``Box``: the role (one-hot); the context (the depth, whether answers of earlier
sub-questions are shown and how many, whether the question holds a ``#k`` placeholder); cues of the question's
kind (a comparison, a yes/no question, a relation such as "the director of", a country, a birth); a small
hashed bag of the question's words; and one feature row per candidate (its kinds among them).
``action_masks()`` (sb3-contrib's MaskablePPO protocol) marks the real candidates; a masked action chosen
anyway is sent as an empty output, which the env penalises as invalid. One network over this observation is one encoder shared by all roles,
conditioned on the role: the compact form of JADE's shared backbone.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from baselines.candidates import CANDIDATE_FEATURES, N_CANDIDATES, ROLE_INDEX, ROLE_SLOTS, CandidateGenerator
from jade_env.errors import JadeError
from jade_env.executors.text import content_words
from jade_env.roles.ids import ROLES
from jade_env.roles.prompts import fields_of

HASH_DIM = 16
CONTEXT = ("depth", "history", "answered", "placeholder")
CUES: dict[str, re.Pattern[str]] = {
    "comparison": re.compile(r"\b(first|earlier|older|younger|later|before|after)\b.*\bor\b", re.I),
    "yes/no": re.compile(r"^(is|are|was|were|do|does|did|has|have|can)\b", re.I),
    "relation": re.compile(r"\bthe (director|founder|author|producer|composer|creator|mother|father|spouse) of\b", re.I),
    "country": re.compile(r"\bcountry\b", re.I),
    "birth": re.compile(r"\bborn\b", re.I),
}
_PLACEHOLDER = re.compile(r"#\d")
STATE_SIZE = len(ROLE_SLOTS) + len(CONTEXT) + len(CUES) + HASH_DIM


def observation_size() -> int:
    return STATE_SIZE + N_CANDIDATES * CANDIDATE_FEATURES


class Featurizer:
    """Observation -> (flat feature vector, candidates of the acting role)."""

    def __init__(self, allow_ds: bool = True, workflows: tuple[str, ...] | None = None) -> None:
        self.generator = CandidateGenerator(allow_ds=allow_ds, workflows=workflows)

    def __call__(self, obs: dict[str, str]):
        vec = np.zeros(observation_size(), dtype=np.float32)
        role = obs["role"]
        if not role:
            return vec, None
        fields, question = fields_of(obs), obs["question"]
        history = fields.get("history", [])
        vec[ROLE_INDEX[role]] = 1.0
        at = len(ROLE_SLOTS)
        vec[at: at + len(CONTEXT)] = [float(fields.get("depth", 0)), float(bool(history)), len(history) / 4,
                                      float(bool(_PLACEHOLDER.search(question)))]
        at += len(CONTEXT)
        vec[at: at + len(CUES)] = [float(bool(cue.search(question))) for cue in CUES.values()]
        at += len(CUES)
        for w in content_words(question):
            vec[at + zlib.crc32(w.encode()) % HASH_DIM] = 1.0
        candidates = self.generator(role, obs)
        vec[STATE_SIZE:] = candidates.features.ravel()
        return vec, candidates


class CandidateActionEnv(gym.Wrapper):
    """Wraps a JadeRAG team env (any paradigm id) so that a policy picks among candidate outputs."""

    @staticmethod
    def observation_shape() -> tuple[int]:
        return (observation_size(),)

    def __init__(self, env: gym.Env, allow_ds: bool = True, workflows: tuple[str, ...] | None = None) -> None:
        super().__init__(env)
        self.featurizer = Featurizer(allow_ds=allow_ds, workflows=workflows)
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(observation_size(),), dtype=np.float32)
        self.action_space = spaces.Discrete(N_CANDIDATES)
        self.text_observation: dict[str, str] = {}  # the wrapped env's observation of this step
        self.candidates = None  # and the acting role's candidates

    def featurize(self, obs: dict[str, str]) -> np.ndarray:
        self.text_observation = obs
        vec, self.candidates = self.featurizer(obs)
        return vec

    def action_masks(self) -> np.ndarray:
        if self.candidates is None:
            return np.ones(N_CANDIDATES, dtype=bool)
        return self.candidates.mask

    def text_of(self, action: int) -> str:
        if self.candidates is None or not self.candidates.mask[int(action)]:
            return ""
        return self.candidates.texts[int(action)]

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        return self.featurize(obs), info

    def step(self, action: int):
        obs, reward, terminated, truncated, info = self.env.step(self.text_of(action))
        return self.featurize(obs), reward, terminated, truncated, info


class TrainedTeam:
    """A trained compact policy as an agent: ``act(role, observation) -> str`` picks its best candidate.

    Roles it was not trained for (``roles``) are played by ``fallback`` (the frozen scripted executors of
    the decoupled paradigm), so the same object works with ``jade-rag evaluate``'s code path.
    """

    def __init__(self, model, roles: tuple[str, ...] = ROLES, allow_ds: bool = True, fallback=None,
                 workflows: tuple[str, ...] | None = None) -> None:
        if tuple(model.observation_space.shape) != (observation_size(),):
            raise JadeError(f"the model was trained on observations of shape {tuple(model.observation_space.shape)}, this version "
                            f"makes {(observation_size(),)}: retrain it with this version of baselines.discrete_env")
        self.model, self.roles, self.fallback = model, roles, fallback
        self.featurizer = Featurizer(allow_ds=allow_ds, workflows=workflows)

    def act(self, role: str, obs: dict[str, str]) -> str:
        if role not in self.roles and self.fallback is not None:
            return self.fallback.act(role, obs)
        vec, candidates = self.featurizer({**obs, "role": role})
        action, _ = self.model.predict(vec, action_masks=candidates.mask, deterministic=True)
        return candidates.texts[int(action)] if candidates.mask[int(action)] else ""
