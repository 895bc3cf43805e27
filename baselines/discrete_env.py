"""``CandidateActionEnv``: the team env with ``Discrete(N)`` actions and masks, for SB3 / sb3-contrib / tianshou.

Each step, the acting role's candidates (:mod:`baselines.candidates`) become the actions; the
observation is a flat ``Box``: the role (one-hot), the depth, a hashed bag of words of the target
question, and one feature row per candidate. ``action_masks()`` (sb3-contrib's MaskablePPO protocol)
marks the real candidates; a masked action chosen anyway is sent as an empty output, which the env
penalises as invalid. One network over this observation is one encoder shared by all roles,
conditioned on the role: the compact form of JADE's shared backbone.
"""

from __future__ import annotations

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

HASH_DIM = 64


def observation_size() -> int:
    return len(ROLE_SLOTS) + 1 + HASH_DIM + N_CANDIDATES * CANDIDATE_FEATURES


class Featurizer:
    """Observation -> (flat feature vector, candidates of the acting role)."""

    def __init__(self, allow_ds: bool = True) -> None:
        self.generator = CandidateGenerator(allow_ds=allow_ds)

    def __call__(self, obs: dict[str, str]):
        vec = np.zeros(observation_size(), dtype=np.float32)
        role = obs["role"]
        if not role:
            return vec, None
        vec[ROLE_INDEX[role]] = 1.0
        vec[len(ROLE_SLOTS)] = float(fields_of(obs).get("depth", 0))
        for w in content_words(obs["question"]):
            vec[len(ROLE_SLOTS) + 1 + zlib.crc32(w.encode()) % HASH_DIM] = 1.0
        candidates = self.generator(role, obs)
        vec[len(ROLE_SLOTS) + 1 + HASH_DIM:] = candidates.features.ravel()
        return vec, candidates


class CandidateActionEnv(gym.Wrapper):
    """Wraps a JadeRAG team env (any paradigm id) so that a policy picks among candidate outputs."""

    @staticmethod
    def observation_shape() -> tuple[int]:
        return (observation_size(),)

    def __init__(self, env: gym.Env, allow_ds: bool = True) -> None:
        super().__init__(env)
        self.featurizer = Featurizer(allow_ds=allow_ds)
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(observation_size(),), dtype=np.float32)
        self.action_space = spaces.Discrete(N_CANDIDATES)
        self._candidates = None

    def featurize(self, obs: dict[str, str]) -> np.ndarray:
        vec, self._candidates = self.featurizer(obs)
        return vec

    def action_masks(self) -> np.ndarray:
        if self._candidates is None:
            return np.ones(N_CANDIDATES, dtype=bool)
        return self._candidates.mask

    def text_of(self, action: int) -> str:
        if self._candidates is None or not self._candidates.mask[int(action)]:
            return ""
        return self._candidates.texts[int(action)]

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

    def __init__(self, model, roles: tuple[str, ...] = ROLES, allow_ds: bool = True, fallback=None) -> None:
        if tuple(model.observation_space.shape) != (observation_size(),):
            raise JadeError(f"the model was trained on observations of shape {tuple(model.observation_space.shape)}, this version "
                            f"makes {(observation_size(),)}: retrain it with this version of baselines.discrete_env")
        self.model, self.roles, self.fallback = model, roles, fallback
        self.featurizer = Featurizer(allow_ds=allow_ds)

    def act(self, role: str, obs: dict[str, str]) -> str:
        if role not in self.roles and self.fallback is not None:
            return self.fallback.act(role, obs)
        vec, candidates = self.featurizer({**obs, "role": role})
        action, _ = self.model.predict(vec, action_masks=candidates.mask, deterministic=True)
        return candidates.texts[int(action)] if candidates.mask[int(action)] else ""
