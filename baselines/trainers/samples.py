"""Episodes to training samples: the one adapter every trainer integration (TRL, verl) uses.

Two shapes, one per kind of env:

* **Team env** (``JadeRAG-*-v0``, ``-Decoupled-v0``, ``-Static-v0``): every role turn the caller played is one
  :class:`TurnSample`: its own prompt (the role's chat-templated system and user text, exactly the ids it
  was sampled from), its completion ids and log-probabilities, a completion mask (1 on every token when the
  role is trained, 0 when it is not: the decoupled paradigm trains the planner only), the reward the turn
  receives under the env's placement (its format penalty plus its share of the global reward, by
  :func:`jade_env.workflow.rewards.place_rewards` over the caller's turns: ``info["transition_rewards"]`` when the
  caller plays every role; frozen executors' penalties are not the caller's reward),
  and the ids that form GRPO groups: ``episode_id`` and ``question_index``.
* **Monolithic env** (``JadeRAG-*-Monolithic-v0``): the whole episode is one :class:`SequenceSample`, one growing
  token sequence: the first prompt, then each turn's completion (mask 1) followed by the ``<information>``
  block the env appended (mask 0). Token-in/token-out: the ids the model wrote are kept as they are, and only
  the text the env adds is tokenised, once, so earlier turns are never re-tokenised (re-tokenising decoded
  text can give other ids than those sampled, and the loss would then be computed on tokens the model never wrote).

**Groups.** GRPO compares several episodes of the same question: :func:`play_team_episodes` and
:func:`play_search_episodes` run ``group_size`` episodes of each question, pinned with
``reset(options={"index": i})``. The ``score`` of a sample is what its group compares: the undiscounted reward
to go under ``terminal`` placement (the global reward paid at the end reaches every earlier turn), the turn's
own reward under ``broadcast`` (the global reward is already on every turn). :func:`group_advantages` is the
GRPO advantage of each sample within its group (by default: every trained sample of the same question).

**Generation.** Both players take a ``generator`` with ``complete(prompts, max_new_tokens, grammars=None)``
returning ``(ids, logprobs, ended)`` per prompt: :class:`baselines.policies.HFChatPolicy` (transformers, with
xgrammar constraints) is one; the TRL integration passes one backed by TRL's vLLM engine on a GPU. Team turns go
through :meth:`HFChatPolicy.generate`, which writes each role's output under its grammar.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from jade_env.envs.info import decode
from jade_env.roles.grammars import search_turn_grammar
from jade_env.workflow.rewards import place_rewards

#: what a monolithic env's role is called (jade_env.workflow.search_agent.AGENT)
SEARCH_ROLE = "agent"


@dataclass(frozen=True, slots=True)
class TokenSample:
    """What every sample has: prompt and completion ids, which completion tokens are trained, rewards, group ids."""

    prompt_ids: list[int]
    completion_ids: list[int]
    completion_mask: list[int]
    logprobs: list[float]
    reward: float
    score: float
    episode_id: int
    question_index: int

    @property
    def trained(self) -> bool:
        return any(self.completion_mask)


@dataclass(frozen=True, slots=True)
class TurnSample(TokenSample):
    """One role turn of a team episode: its own prompt and completion; ``turn`` is its position in the episode."""

    role: str = ""
    turn: int = 0
    text: str = ""


@dataclass(frozen=True, slots=True)
class SequenceSample(TokenSample):
    """One monolithic episode as one growing sequence: ``prompt_ids`` then ``completion_ids`` (turns and documents)."""

    turns: int = 0
    prediction: str = ""


@dataclass(slots=True)
class PlayedEpisode:
    """What a player returns: the samples of one episode and its final (decoded) info."""

    episode_id: int
    question_index: int
    samples: list[Any]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def global_reward(self) -> float:
        return float(self.info.get("global_reward", 0.0))


def credited_scores(rewards: Sequence[float], placement: str) -> list[float]:
    """What each turn's group compares: reward to go under ``terminal``, the turn's own reward under ``broadcast``."""
    if placement == "broadcast":
        return [float(r) for r in rewards]
    scores, to_go = [], 0.0
    for r in reversed(rewards):
        to_go += float(r)
        scores.append(to_go)
    return scores[::-1]


def group_questions(question_indices: Sequence[int], group_size: int) -> list[int]:
    """Each question index repeated ``group_size`` times, in order: one entry per episode to play."""
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise ValueError(f"group_size must be a positive integer, got {group_size!r}")
    return [int(q) for q in question_indices for _ in range(group_size)]


def env_copies(env: gym.Env, n: int) -> list[gym.Env]:
    """``n`` envs for episodes played side by side: ``env`` and copies of it (copies share its split and retrievers)."""
    return [env] + [copy.deepcopy(env) for _ in range(n - 1)]


def _placement(env: gym.Env) -> str:
    return env.unwrapped.reward_config.placement


def play_team_episodes(envs: Sequence[gym.Env], policy: Any, questions: Sequence[int], train_roles: Sequence[str] | None = None,
                       seed: int = 0, first_episode_id: int = 0) -> list[PlayedEpisode]:
    """Play one team episode per entry of ``questions`` (question indices; see :func:`group_questions`), side by side.

    ``envs`` has one env per episode (:func:`env_copies`); ``policy`` is an :class:`~baselines.policies.HFChatPolicy`
    (sampling, for groups that differ); ``train_roles`` the roles whose turns are trained (None: every role).
    Every step generates for all running episodes in one batch.
    """
    if len(envs) < len(questions):
        raise ValueError(f"{len(questions)} episodes need as many envs; {len(envs)} were given (use env_copies)")
    observations, turns, finals = {}, {i: [] for i in range(len(questions))}, {}
    for i, q in enumerate(questions):
        obs, info = envs[i].reset(seed=seed + i, options={"index": int(q)})
        observations[i] = obs
    while observations:
        running = sorted(observations)
        generations = policy.generate([observations[i] for i in running])
        for i, gen in zip(running, generations, strict=True):
            role = observations[i]["role"]
            obs, _, terminated, truncated, info = envs[i].step(gen.text)
            turns[i].append((role, gen, float(info["penalty"])))
            if terminated or truncated:
                finals[i] = decode(info)
                del observations[i]
            else:
                observations[i] = obs
    played = []
    for i, q in enumerate(questions):
        info = finals[i]
        # the caller's turns only (frozen executors' penalties are not the caller's reward), placed as the env places them
        placement = _placement(envs[i])
        rewards = place_rewards([p for _, _, p in turns[i]], float(info["global_reward"]), placement)
        scores = credited_scores(rewards, placement)
        samples = []
        for t, ((role, gen, _), reward, score) in enumerate(zip(turns[i], rewards, scores, strict=True)):
            trained = train_roles is None or role in train_roles
            completion = gen.completion_ids or [policy.tokenizer.eos_token_id]
            logprobs = gen.logprobs if gen.completion_ids else [0.0]
            samples.append(TurnSample(prompt_ids=list(gen.prompt_ids), completion_ids=list(completion),
                                      completion_mask=[int(trained)] * len(completion), logprobs=list(logprobs),
                                      reward=float(reward), score=float(score), role=role, episode_id=first_episode_id + i,
                                      question_index=int(q), turn=t, text=gen.text))
        played.append(PlayedEpisode(first_episode_id + i, int(q), samples, info))
    return played


def play_search_episodes(envs: Sequence[gym.Env], policy: Any, questions: Sequence[int], max_new_tokens: int = 96,
                         generator: Any = None, constrain: bool = True, seed: int = 0,
                         first_episode_id: int = 0) -> list[PlayedEpisode]:
    """Play one monolithic episode per entry of ``questions``, side by side; each becomes one :class:`SequenceSample`.

    ``policy`` gives the tokenizer and the chat template (:meth:`HFChatPolicy.chat_prompt_ids`); ``generator``
    (default: ``policy``) writes each turn from the whole sequence so far, constrained (``constrain``) to one
    ``<search>`` or one ``<answer>`` (:func:`~jade_env.roles.grammars.search_turn_grammar`). After a search the
    turn's end-of-sequence token is dropped and the env's new text (the ``<information>`` block) is tokenised
    and appended with mask 0, so the model goes on writing after the documents, as in Search-R1.
    """
    generator = generator or policy
    tokenizer = policy.tokenizer
    eos = tokenizer.eos_token_id
    grammar = search_turn_grammar().gbnf if constrain else None
    sequences: dict[int, GrowingSequence] = {}
    users: dict[int, str] = {}
    turns = dict.fromkeys(range(len(questions)), 0)
    finals: dict[int, dict[str, Any]] = {}
    for i, q in enumerate(questions):
        obs, _ = envs[i].reset(seed=seed + i, options={"index": int(q)})
        users[i] = obs["user"]
        sequences[i] = GrowingSequence(policy.chat_prompt_ids(obs["system"], obs["user"]))
    running = sorted(sequences)
    while running:
        outputs = generator.complete([sequences[i].context for i in running], max_new_tokens,
                                     grammars=[grammar] * len(running) if grammar else None)
        still = []
        for i, (ids, logprobs, ended) in zip(running, outputs, strict=True):
            seq, added, done = sequences[i], *search_step(envs[i], users, i, tokenizer, list(ids), list(logprobs), ended)
            turns[i] += 1
            if done is not None:
                finals[i] = done
            else:
                still.append(i)
            seq.add_model(*added[0])
            for env_ids in added[1:]:
                seq.add_env(env_ids)
        running = still
    eos = tokenizer.eos_token_id
    played = []
    for i, q in enumerate(questions):
        info = finals[i]
        sample = sequences[i].sample(float(sum(info["transition_rewards"])), first_episode_id + i, int(q), turns[i],
                                     info["prediction"], eos)
        played.append(PlayedEpisode(first_episode_id + i, int(q), [sample], info))
    return played


def search_step(env: gym.Env, users: dict[int, str], i: int, tokenizer: Any, ids: list[int], logprobs: list[float],
                ended: bool) -> tuple[list, dict[str, Any] | None]:
    """One monolithic turn: step ``env`` with the model's ``ids``; return what the sequence gains, and the final info.

    Gains: ``[(model ids, logprobs), env ids...]``. A turn cut by its token budget gets its tag closed (as
    HFChatPolicy closes a cut output): the closing tag is the env side's text, mask 0. After a search the
    turn's end-of-sequence token is dropped, so the model goes on writing after the ``<information>`` block.
    """
    eos = tokenizer.eos_token_id
    text = tokenizer.decode([t for t in ids if t != eos], skip_special_tokens=True)
    closing = "" if ended else cut_turn_closing(text)
    obs, _, terminated, truncated, info = env.step(text + closing)
    done = terminated or truncated
    if not done and ids and ids[-1] == eos:
        ids, logprobs = ids[:-1], logprobs[:-1]
    gains: list = [(ids, logprobs)]
    if closing:
        gains.append(tokenizer(closing, add_special_tokens=False)["input_ids"])
    if done:
        return gains, decode(info)
    added = env_text(users[i], obs["user"], text + closing)
    users[i] = obs["user"]
    gains.append(tokenizer(added, add_special_tokens=False)["input_ids"])
    return gains, None


def cut_turn_closing(text: str) -> str:
    """The closing tag a search turn cut short needs (``""`` when it opened no tag or closed it already)."""
    for tag in ("search", "answer"):
        if text.startswith(f"<{tag}>") and not text.rstrip().endswith(f"</{tag}>"):
            return f"</{tag}>"
    return ""


def env_text(before: str, after: str, turn_text: str) -> str:
    """The text the env added to the conversation after the agent's turn ``turn_text`` (the ``<information>`` block).

    The monolithic env's user text is the question followed by every turn and block, joined by newlines; what
    follows the turn in ``after`` is the env's own text.
    """
    added = after[len(before):] if after.startswith(before) else None
    if added is None:
        raise ValueError("the env's conversation no longer starts with the previous one (was it cut by max_text_length?); "
                         "raise max_text_length so that the growing sequence can follow it")
    for lead in ("\n" + turn_text, turn_text):
        if added.startswith(lead):
            return added[len(lead):]
    return added


def group_advantages(samples: Sequence[Any], key: Callable[[Any], Any] | None = None, scale: bool = True) -> list[float]:
    """GRPO advantages: each sample's score minus the mean of its group, over the group's standard deviation.

    ``key`` names the group of a sample (default: its question); samples that are not trained (mask all 0) take
    no part and get 0.
    """
    key = key or (lambda s: s.question_index)
    groups: dict[Any, list[float]] = {}
    for s in samples:
        if any(s.completion_mask):
            groups.setdefault(key(s), []).append(s.score)
    stats = {}
    for k, scores in groups.items():
        mean = sum(scores) / len(scores)
        std = math.sqrt(sum((x - mean) ** 2 for x in scores) / max(1, len(scores) - 1)) if len(scores) > 1 else 0.0
        stats[k] = (mean, std)
    out = []
    for s in samples:
        if not any(s.completion_mask):
            out.append(0.0)
            continue
        mean, std = stats[key(s)]
        out.append((s.score - mean) / (std + 1e-4) if scale else s.score - mean)
    return out


def trained_turns(episodes: Sequence[PlayedEpisode]) -> list[list[TurnSample]]:
    """Per episode, its trained turns (mask not all 0), in order: turn position ``k`` of each is its ``k``-th trained turn."""
    return [[s for s in e.samples if s.trained] for e in episodes]


def summary(episodes: Sequence[PlayedEpisode]) -> Mapping[str, float]:
    """Mean global reward, F1 and turns of played episodes (for logs)."""
    n = max(1, len(episodes))
    return {"global_reward": sum(e.global_reward for e in episodes) / n,
            "f1": sum(float(e.info.get("metrics", {}).get("f1", 0.0)) for e in episodes) / n,
            "turns": sum(len(e.samples) if e.samples and isinstance(e.samples[0], TurnSample) else e.samples[0].turns
                         for e in episodes) / n}


class GrowingSequence:
    """One episode as one token sequence that only grows: the model's tokens (mask 1) and the env's (mask 0).

    Token-in/token-out: ids are appended as they were sampled or tokenised, never decoded and tokenised again.
    The verl agent loops build their trajectories with it.
    """

    def __init__(self, prompt_ids: Sequence[int]) -> None:
        self.prompt_ids = list(prompt_ids)
        self.ids: list[int] = []
        self.mask: list[int] = []
        self.logprobs: list[float] = []

    @property
    def context(self) -> list[int]:
        """What the model continues from: the prompt and everything since."""
        return self.prompt_ids + self.ids

    def add_model(self, ids: Sequence[int], logprobs: Sequence[float] | None = None, trained: bool = True) -> None:
        self.ids += ids
        self.mask += [int(trained)] * len(ids)
        self.logprobs += list(logprobs) if logprobs is not None else [0.0] * len(ids)

    def add_env(self, ids: Sequence[int]) -> None:
        self.ids += ids
        self.mask += [0] * len(ids)
        self.logprobs += [0.0] * len(ids)

    def sample(self, reward: float, episode_id: int, question_index: int, turns: int, prediction: str,
               eos: int) -> SequenceSample:
        return SequenceSample(prompt_ids=self.prompt_ids, completion_ids=self.ids or [eos], completion_mask=self.mask or [0],
                              logprobs=self.logprobs or [0.0], reward=reward, score=reward, episode_id=episode_id,
                              question_index=question_index, turns=turns, prediction=prediction)


def agent_loop_fields(sample: SequenceSample, response_length: int | None = None) -> dict[str, Any]:
    """verl's ``AgentLoopOutput`` fields of one sequence sample (the response cut to ``response_length`` tokens).

    ``reward_score`` is the episode's reward, which verl places on the last response token (``rm_scores``).
    """
    n = len(sample.completion_ids) if response_length is None else response_length
    return {"prompt_ids": list(sample.prompt_ids), "response_ids": list(sample.completion_ids[:n]),
            "response_mask": list(sample.completion_mask[:n]), "response_logprobs": list(sample.logprobs[:n]),
            "reward_score": float(sample.reward), "num_turns": 2 * sample.turns,
            "extra_fields": {"question_index": sample.question_index, "episode_id": sample.episode_id,
                             "prediction": sample.prediction}}
