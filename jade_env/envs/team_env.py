"""The JADE team as one Gymnasium environment, driven by one policy (the shared backbone)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from jade_env.envs.base import RAGEnvBase, arguments, check_roles
from jade_env.roles.ids import ROLES
from jade_env.workflow.engine import EngineConfig, Episode, FixedPlan
from jade_env.workflow.presets import resolve_preset
from jade_env.workflow.rewards import make_reward_config


class JadeRAGEnv(RAGEnvBase):
    """
    ## Description

    One episode is one question answered by the JADE team (arXiv 2601.21916). A *planner* chooses a
    workflow for the question; *executors* decompose it (serially, ``qds``, or in parallel, ``qdp``),
    rewrite queries (``qr``), select retrieved documents (``ds``), answer (``ag``) and summarise
    sub-answers (``as``). Retrieval (``R``) runs inside the environment. Every role is played by the
    caller's one policy (the shared backbone), except the roles handed to a frozen ``executor``.

    ## Observation Space

    ``Dict`` of :class:`~jade_env.spaces.UnicodeText` with the same keys at every step:

    | key        | content                                                                      |
    |------------|------------------------------------------------------------------------------|
    | `role`     | the acting role: `planner`, `qds`, `qdp`, `qr`, `ds`, `ag` or `as` (`""` at the end) |
    | `system`   | the role's system text (its job and output format), ready for a chat template |
    | `user`     | the role's user text (question, documents, sub-answers)                       |
    | `question` | the current target question (the original or a sub-question)                  |
    | `fields`   | JSON: `original_question`, `documents` (id, title, text), `history`, `modules`, `depth`, `max_subquestions` |

    Every text is at most `max_text_length` characters; `fields` stays valid JSON when it is shortened
    (:mod:`jade_env.envs.observation`).

    ## Action Space

    :class:`~jade_env.spaces.UnicodeText`: the acting role's text output.

    | role      | expected output                          | fallback when invalid                  |
    |-----------|------------------------------------------|----------------------------------------|
    | `planner` | `<workflow>R,AG</workflow>`              | `QDS` (top level), `R,AG` (sub-question) |
    | `qds`/`qdp` | `<q1>...</q1><q2>...</q2>`             | the question itself                    |
    | `qr`      | `<query>...</query>`                     | the input question                     |
    | `ds`      | `<id>Document0,Document3</id>`           | every retrieved document               |
    | `ag`/`as` | `<answer>...</answer>`                   | the raw output, stripped               |

    ## Rewards

    An invalid output of a role the caller plays costs the format penalty (-1) on that step. On the
    final step the global reward ``outcome - alpha * rounds_cost - beta * retrieval_cost`` is added
    (outcome: F1 of the final answer by default). Presets: ``jade`` (default), ``jade_broadcast``,
    ``search_r1``, ``mmoa`` (see :mod:`jade_env.workflow.rewards`); every weight is a keyword.

    ## Starting State

    ``reset(seed=s)`` draws a question with the env's seeded generator; ``reset(options={"index": i})``
    pins question ``i`` of the split (for GRPO-style groups).

    ## Episode End

    * terminated: the final answer is written (by ``ag`` for a direct workflow, ``as`` after a
      decomposition).
    * truncated: the hard cap ``max_steps`` on agent steps is reached; the best answer so far is scored.

    Calling ``step`` after the end raises :class:`gymnasium.error.ResetNeeded`.

    ## Info

    The same keys, of the same types, at every step (:mod:`jade_env.envs.info`): the acting role's
    parsed output, validity and message, the executors' turns, retrieved ids and titles, counters,
    the workflow; on the final step (``info["episode_end"]``) the prediction, gold answers, metrics,
    reward components and per-transition rewards.

    ## Arguments

    | keyword | default | meaning |
    |---|---|---|
    | `dataset` | from the id | registry name: `hotpotqa`, `2wikimultihopqa`, `musique`, `bamboogle`, `nq`, `popqa`, ... |
    | `data_path` | None | a local question file in any supported format (wins over the registry) |
    | `data_format`, `split`, `n`, `sample_seed` | None | format, split, first `n` (or a seeded sample of `n`); Synthetic takes `n` only |
    | `synthetic` | {} | arguments of the Synthetic world generator (`seed`, `hop_mix`, ...) |
    | `corpus` | `"pooled"` | `"pooled"`, `"per_question"`, or a JSONL corpus path |
    | `retriever` | `"bm25"` | `"bm25"`, `"lucene"`, `"dense"`, `"remote:URL[,URL]"`, or a `Retriever` |
    | `retriever_kwargs`, `cache_dir`, `replay_cache` | None | backend options, index cache folder, SQLite replay cache |
    | `top_k` | 5 | passages per retrieval |
    | `max_subquestions` | 4 | sub-questions per decomposition |
    | `decomposition_depth` | 1 | levels at which the planner may decompose |
    | `strict_format` | True | anything outside the tag makes an output invalid (False: first tag found) |
    | `max_steps` | 40 | hard cap on agent steps per episode |
    | `preset` | `"paper"` | `"paper"` or `"authors_code"` (the released JADE code, :mod:`jade_env.workflow.presets`): the defaults of ¹ |
    | `reward` ¹ | `"jade"` | reward preset; `alpha`, `beta`, `format_penalty`, `outcome`, `placement`, `free_rounds` override it |
    | `controlled_roles` | all roles | the roles the caller plays, the others by `executor` (questions without their turn: drawn again) |
    | `executor` | `"scripted"` | the frozen executors: a name of :mod:`jade_env.executors` or an object with `act(role, observation) -> str` |
    | `workflow` | None | a fixed top-level graph such as `"QR,R,DS,AG"` (static joint: the planner is never asked) |
    | `sub_workflow` ¹ | None | a fixed graph for every sub-question (`"R,AG"` when only `workflow` is fixed) |
    | `few_shot` ¹ | False | add one worked example to each role's system text |
    | `rewrite_every_subquestion` ¹ | False | QR rewrites every serial sub-question, the first included |
    | `rewrite_replaces_question` ¹ | False | in a direct chain, DS and AG are asked QR's query instead of the question |
    | `strict_doc_ids` ¹ | False | DS ids must be written `Document0,Document3`, without spaces |
    | `token_counter` | None | a function text -> number of tokens, to count tokens read and written |
    | `max_text_length` | 32768 | the bound of every text field, at least 16 (longer texts are cut, with a marker) |

    ## Registered ids

    ``JadeRAG-<Name>-v0`` for Name in HotpotQA, 2Wiki, MuSiQue, Bamboogle, NQ, PopQA, AmbigQA, TriviaQA,
    Synthetic; ``JadeRAG-<Name>-Decoupled-v0`` (the caller plays the planner; the scripted executors play
    the rest, or `executor=`);
    ``JadeRAG-<Name>-Static-v0`` (`workflow="QR,R,DS,AG"`); ``JadeRAG-<Name>-Monolithic-v0`` (see
    :class:`~jade_env.envs.monolithic_env.MonolithicRAGEnv`). ``jade-rag envs`` lists them.

    ## Version History

    * v0 (jade_env 0.2): one info schema with fixed shapes at every step (lists as JSON text); ``-Decoupled``
      ids default to ``executor="scripted"``; every role's view carries its true depth; the scripted
      decomposer splits composite attributes (three-hop questions); copies and pickles mid-episode;
      ``sub_workflow``; scored ``TimeLimit`` truncations; ``preset="authors_code"`` and its four switches
      (``rewrite_every_subquestion``, ``rewrite_replaces_question``, ``strict_doc_ids``, ``free_rounds``); the
      ``jade_broadcast`` reward counts turns as the released code does (``free_rounds=1``).
    * v0 (jade_env 0.1): initial release.
    """

    roles = ROLES

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
        top_k: int = 5,
        max_subquestions: int = 4,
        decomposition_depth: int = 1,
        strict_format: bool = True,
        max_steps: int = 40,
        preset: str = "paper",
        reward: str | None = None,
        alpha: float | None = None,
        beta: float | None = None,
        format_penalty: float | None = None,
        outcome: str | None = None,
        placement: str | None = None,
        free_rounds: int | None = None,
        controlled_roles: Iterable[str] | None = None,
        executor: Any = "scripted",
        workflow: str | Sequence[str] | None = None,
        sub_workflow: str | Sequence[str] | None = None,
        few_shot: bool | None = None,
        rewrite_every_subquestion: bool | None = None,
        rewrite_replaces_question: bool | None = None,
        strict_doc_ids: bool | None = None,
        token_counter: Callable[[str], int] | None = None,
        max_text_length: int = 32768,
        render_mode: str | None = None,
    ) -> None:
        init_kwargs = arguments(locals())
        chosen = resolve_preset(preset, reward=reward, sub_workflow=sub_workflow, few_shot=few_shot, strict_doc_ids=strict_doc_ids,
                                rewrite_every_subquestion=rewrite_every_subquestion,
                                rewrite_replaces_question=rewrite_replaces_question)
        rewards = make_reward_config(chosen.pop("reward"), alpha=alpha, beta=beta, format_penalty=format_penalty, outcome=outcome,
                                     placement=placement, free_rounds=free_rounds)
        self.config = EngineConfig(max_subquestions=max_subquestions, decomposition_depth=decomposition_depth, top_k=top_k,
                                   strict_format=strict_format, max_steps=max_steps,
                                   plan=FixedPlan.from_specs(workflow, chosen.pop("sub_workflow")), reward=rewards, **chosen)
        self.controlled_roles = check_roles(controlled_roles, ROLES)
        reached = self.config.plan.roles() if self.config.plan is not None else None
        if reached is not None and not reached & set(self.controlled_roles):
            acting = ", ".join(r for r in ROLES if r in reached)
            raise ValueError(f"workflow={workflow!r} fixes every plan, so the only roles that act are {acting}, "
                             f"and controlled_roles={list(self.controlled_roles)} has none of them: control one of those roles, "
                             "or leave the planner's choice open (no workflow=)")
        self.token_counter = token_counter
        super().__init__(init_kwargs, reward=rewards, controlled_roles=self.controlled_roles, executor=executor)

    def new_episode(self, index: int) -> Episode:
        return Episode(self.examples[index], self.config, self.token_counter)
