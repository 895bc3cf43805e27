"""One Search-R1-style agent that interleaves searching and answering (the monolithic paradigm)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jade_env.envs.base import RAGEnvBase, arguments
from jade_env.workflow.rewards import make_reward_config
from jade_env.workflow.search_agent import AGENT, SearchConfig, SearchEpisode


class MonolithicRAGEnv(RAGEnvBase):
    """
    ## Description

    The monolithic paradigm (Search-R1): one agent reads the question and, turn by turn, either
    searches (``<search>query</search>``; the environment appends the top-k documents as an
    ``<information>`` block to the conversation) or answers (``<answer>...</answer>``, which ends the
    episode). Same data, retrievers, scorer and counters as :class:`~jade_env.envs.team_env.JadeRAGEnv`.

    ## Observation Space

    The same ``Dict`` keys as the team env: ``role`` is always ``"agent"``; ``system`` the task;
    ``user`` the question followed by the whole conversation so far (the agent's turns and the
    information blocks); ``question`` the question; ``fields`` JSON with ``turn``, ``searches``, ``max_turns`` and every
    ``documents`` retrieved so far (id, title, text).

    ## Action Space

    :class:`~jade_env.spaces.UnicodeText`: one turn of text that ends with one ``<search>`` or one
    ``<answer>`` element (reasoning before it is allowed). With ``strict_format=True`` a turn with both
    tags, or with neither, is invalid: format penalty, and the turn is spent. An ``<answer>`` whose content
    breaks the answer rules (empty, over 40 words) ends the episode with that content, stripped, and its
    format penalty (as the team's AG fallback). See :mod:`jade_env.workflow.search_agent`.

    ## Rewards

    The global reward of the ``reward`` preset (``search_r1``: EM by default) on the final step, plus
    the format penalty on each invalid turn.

    ## Starting State

    As the team env: ``reset(seed=...)`` draws a question; ``options={"index": i}`` pins one.

    ## Episode End

    terminated when the agent answers; truncated after ``max_turns`` turns without an answer (the
    prediction is then empty). ``step`` after the end raises :class:`gymnasium.error.ResetNeeded`.

    ## Info

    The team env's schema (:mod:`jade_env.envs.info`), with the one role ``agent`` in the counters and
    ``workflow == "monolithic"``.

    ## Arguments

    The team env's data and retrieval keywords (``dataset``, ``data_path``, ``corpus``, ``retriever``,
    ``top_k`` (3, as Search-R1), ``reward`` (``"search_r1"``) and every reward weight: ``alpha``, ``beta``,
    ``format_penalty``, ``outcome``, ``placement``, ``free_rounds``, ...), plus ``max_turns`` (4).

    ## Registered ids

    ``JadeRAG-<Name>-Monolithic-v0``.

    ## Version History

    * v0 (jade_env 0.2): ``free_rounds`` is a keyword, as in the team env; the team env's info schema; the batched
      vector env; copies and pickles mid-episode; with ``strict_format=True`` text after the turn's element makes it
      invalid, as the turn's format says.
    * v0 (jade_env 0.1): initial release.
    """

    roles = (AGENT,)

    def __init__(
        self,
        dataset: str = "synthetic",
        data_path: str | None = None,
        data_format: str | None = None,
        split: str | None = None,
        n: int | None = None,
        sample_seed: int | None = None,
        synthetic: dict[str, Any] | None = None,
        corpus: Any = "pooled",
        retriever: Any = "bm25",
        retriever_kwargs: dict[str, Any] | None = None,
        cache_dir: str | None = None,
        replay_cache: str | None = None,
        top_k: int = 3,
        max_turns: int = 4,
        strict_format: bool = True,
        reward: str = "search_r1",
        alpha: float | None = None,
        beta: float | None = None,
        format_penalty: float | None = None,
        outcome: str | None = None,
        placement: str | None = None,
        free_rounds: int | None = None,
        token_counter: Callable[[str], int] | None = None,
        max_text_length: int = 32768,
        render_mode: str | None = None,
    ) -> None:
        init_kwargs = arguments(locals())
        rewards = make_reward_config(reward, alpha=alpha, beta=beta, format_penalty=format_penalty, outcome=outcome,
                                     placement=placement, free_rounds=free_rounds)
        self.config = SearchConfig(top_k=top_k, max_turns=max_turns, strict_format=strict_format, reward=rewards)
        self.token_counter = token_counter
        super().__init__(init_kwargs, reward=rewards, controlled_roles=self.roles, executor=None)

    @property
    def max_turns(self) -> int:
        return self.config.max_turns

    def new_episode(self, index: int) -> SearchEpisode:
        return SearchEpisode(self.examples[index], self.config, self.token_counter)
