"""``HFChatPolicy``: any HuggingFace chat model plays any set of roles (one shared backbone for all roles).

The observation's ``system`` and ``user`` texts (rendered by :mod:`jade_env.roles.prompts`) go through
the model's chat template; a template without a system role (it raises, or drops the system message)
gets the system text at the top of the user message instead. Generation is greedy by default
(``do_sample=True`` samples with ``temperature``/``top_p`` from the policy's own random stream, seeded
once by ``seed``: the same seed gives the same sequence of samples, and two calls give two samples).

By default every output is *constrained* to its role's grammar (:mod:`jade_env.roles.grammars`, built
from the observation, enforced by xgrammar): the policy writes the opening tag itself (prefill), the
model writes the rest, and the output ends when the grammar does, so the parser sees valid outputs only
(unless a token budget runs out where closing the tag cannot make the output valid). A decomposition is
written one sub-question at a time (each differs from the question and from the ones before: the one
rule a single grammar cannot state). ``constrain=False`` decodes freely, still
prefilling the opening tag and stopping at the closing tag (``prefill=False``: neither).
``planner_scoring=True`` has the planner choose among the step's valid workflows by the model's
likelihood of writing each (the most likely, or one sampled in proportion), in one forward pass.

``generate`` works on a batch of observations (the sub-envs of a vector env) with left padding, and
returns, with each text, the prompt token ids (prefill included), the completion token ids and the
log-probability of every completion token under the distribution sampled from (after the grammar's
mask), so a trainer can use them without re-tokenising. Per-role token budgets
(:data:`ROLE_MAX_NEW_TOKENS`) leave room for four sub-questions and a 40-word answer; when a budget
runs out inside a tag, the policy closes the tag when that makes a valid output (``finished`` False).

Roles outside ``roles`` are refused (``act`` raises ``ValueError``), so a policy bound to a subset of
roles cannot silently answer for another; an observation with no acting role (``""``: an ended sub-env
of a vector env, awaiting its reset) gets an empty action.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from jade_env.roles.grammars import (
    DEFAULT_MAX_SUBQUESTIONS,
    DecompositionSteps,
    OutputGrammar,
    output_grammar,
    output_tags,
    subquestion_limit,
    valid_workflows,
)
from jade_env.roles.ids import MODULE_CODES, ROLES
from jade_env.roles.parsers import SUBQUESTION_TAG
from jade_env.roles.prompts import fields_of

#: tokens per output: a workflow; four sub-questions; a query; ids of ten documents; a 40-word answer
ROLE_MAX_NEW_TOKENS: dict[str, int] = {"planner": 24, "qds": 160, "qdp": 160, "qr": 64, "ds": 64, "ag": 80, "as": 80}

_SYSTEM_PROBE = "JADE-SYSTEM-ROLE-PROBE"


@dataclass(frozen=True, slots=True)
class Generation:
    """One generated output: its text (prefill included), prompt and completion token ids, completion log-probs.

    ``finished`` is False when the token budget ran out before the output ended by itself.
    """

    text: str
    prompt_ids: list[int]
    completion_ids: list[int]
    logprobs: list[float]
    finished: bool = True


def chat_messages(system: str, user: str, system_role: bool = True) -> list[dict[str, str]]:
    """The chat messages of one role turn; where the template has no system role (:func:`supports_system_role`), the
    system text joins the top of the user message."""
    if system_role:
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]
    return [{"role": "user", "content": f"{system}\n\n{user}" if system else user}]


def supports_system_role(tokenizer: Any) -> bool:
    """Whether the chat template renders a system message (some raise on one, some drop it silently)."""
    from jinja2 import TemplateError

    messages = [{"role": "system", "content": _SYSTEM_PROBE}, {"role": "user", "content": "u"}]
    try:
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    except (TemplateError, ValueError, KeyError, TypeError):
        return False
    return _SYSTEM_PROBE in text


def close_cut_output(grammar: OutputGrammar, text: str, segment: str) -> str:
    """``text`` with its tag closed, if closing it makes a valid output; else ``text`` unchanged.

    For an output cut short by its token budget: ``text`` ends with ``segment``, what the model wrote
    after ``grammar.prefix``. Tried in turn: the rest of a partly written closing tag, then (trailing
    white space dropped) the whole closing tag.
    """
    closing, step = grammar.closing, grammar.prefix + segment
    candidates = [step + closing[j:] for j in range(len(closing) - 1, 0, -1) if step.endswith(closing[:j])]
    for candidate in [*candidates, step.rstrip() + closing]:
        if grammar.matches(candidate):
            return text[: len(text) - len(segment)] + candidate[len(grammar.prefix):]
    return text


def drop_cut_opening(text: str) -> str:
    """A decomposition cut short by its token budget after a sub-question's closing tag, inside (or just after) the next
    one's opening tag (``<q1>...</q1><q2``): the sub-questions written, without the start of the one never written."""
    closings = list(re.finditer("</" + SUBQUESTION_TAG.format(r"(\d+)") + ">", text))
    if closings:
        last = closings[-1]
        rest = text[last.end():].strip()
        if rest and f"<{SUBQUESTION_TAG.format(int(last.group(1)) + 1)}>".startswith(rest):
            return text[: last.end()]
    return text


def token_budgets(max_new_tokens: int | Mapping[str, int] | None) -> dict[str, int]:
    """Tokens per output for every role: the defaults, one number for all, or the defaults with some roles changed."""
    if max_new_tokens is None:
        return dict(ROLE_MAX_NEW_TOKENS)
    if isinstance(max_new_tokens, Mapping):
        unknown = set(max_new_tokens) - set(ROLES)
        if unknown:
            raise ValueError(f"max_new_tokens has unknown role(s) {sorted(unknown)}; expected roles from {', '.join(ROLES)}")
        budgets = {**ROLE_MAX_NEW_TOKENS, **max_new_tokens}
    else:
        budgets = dict.fromkeys(ROLES, max_new_tokens)
    for role, value in budgets.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"max_new_tokens must be a positive integer (or a dict role -> one), got {value!r} for {role}")
    return budgets


@dataclass(slots=True)
class _Output:
    """One output being written, over one or more ``generate`` rounds (several for a decomposition)."""

    observation: Mapping[str, Any]
    prefix: str
    prompt_ids: list[int]
    budget: int
    grammar: OutputGrammar | None
    closing: str
    steps: DecompositionSteps | None = None
    completion_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    segment_start: int = 0
    finished: bool = False


class HFChatPolicy:
    """A ``transformers`` causal LM with a chat template, as a policy for every role it is given."""

    def __init__(
        self,
        model,
        tokenizer,
        roles: Iterable[str] | None = None,
        max_new_tokens: int | Mapping[str, int] | None = None,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_prompt_tokens: int = 2048,
        seed: int | None = None,
        constrain: bool = True,
        prefill: bool = True,
        max_subquestions: int = DEFAULT_MAX_SUBQUESTIONS,
        planner_scoring: bool = False,
    ) -> None:
        import torch

        self.torch = torch
        self.model = model
        self.tokenizer = tokenizer
        self.roles = tuple(ROLES if roles is None else roles)
        unknown = [r for r in self.roles if r not in ROLES]
        if unknown or isinstance(roles, str):
            raise ValueError(f"roles has unknown role(s) {unknown or [roles]}; expected a list of roles from {', '.join(ROLES)}")
        self.max_new_tokens = token_budgets(max_new_tokens)
        for name, value in (("max_prompt_tokens", max_prompt_tokens), ("max_subquestions", max_subquestions)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if do_sample and not (isinstance(temperature, int | float) and temperature > 0):
            raise ValueError(f"temperature must be a number above 0 when do_sample is true, got {temperature!r}")
        if not (isinstance(top_p, int | float) and 0 < top_p <= 1):
            raise ValueError(f"top_p must be a number in (0, 1], got {top_p!r}")
        self.do_sample = do_sample
        self.temperature, self.top_p = temperature, top_p
        self.max_prompt_tokens = max_prompt_tokens
        self.seed = seed
        self.constrain, self.prefill = constrain, prefill
        self.max_subquestions = max_subquestions
        self.planner_scoring = planner_scoring
        self._rng_states: tuple[Any, Any] | None = None
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError("the tokenizer has no chat template; set tokenizer.chat_template (a Jinja string) first")
        self.system_role = supports_system_role(tokenizer)
        self._constraint = None
        if constrain:
            self.constraint  # noqa: B018  (fail now, not at the first step, when xgrammar is missing)

    @classmethod
    def from_pretrained(cls, path: str, roles: Iterable[str] | None = None, device: str = "cpu", **kwargs) -> HFChatPolicy:
        """Load a model folder or hub id (offline when HF_HUB_OFFLINE=1) with its tokenizer."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if str(device).startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device={device!r}, but torch sees no GPU here; use device='cpu'")
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path).to(device)
        model.eval()
        return cls(model, tokenizer, roles=roles, **kwargs)

    @property
    def constraint(self):
        """The grammar engine for this tokenizer (built on first use)."""
        if self._constraint is None:
            from baselines.policies.constrained import GrammarConstraint

            vocab = max(int(getattr(self.model.config, "vocab_size", 0) or 0), len(self.tokenizer))
            self._constraint = GrammarConstraint(self.tokenizer, vocab, [self.tokenizer.eos_token_id])
        return self._constraint

    # ------------------------------------------------------------------ prompts
    def messages(self, system: str, user: str) -> list[dict[str, str]]:
        """The chat messages of one turn (:func:`chat_messages` for this tokenizer's template)."""
        return chat_messages(system, user, self.system_role)

    def chat_prompt_ids(self, system: str, user: str, prefill: str = "") -> list[int]:
        """Token ids of the chat-templated turn, then ``prefill`` (cut on the left to ``max_prompt_tokens``)."""
        text = self.tokenizer.apply_chat_template(self.messages(system, user), add_generation_prompt=True, tokenize=False)
        ids = self.tokenizer(text + prefill, add_special_tokens=False)["input_ids"]
        return ids[-self.max_prompt_tokens:]

    def prompt_ids(self, observation: Mapping[str, Any]) -> list[int]:
        """The prompt of an observation as token ids, the prefilled opening tag included."""
        return self.chat_prompt_ids(observation["system"], observation["user"], self.prefix(observation))

    def prefix(self, observation: Mapping[str, Any]) -> str:
        """The opening tag the policy writes itself (prefill) for this observation's role; "" without prefill."""
        return output_tags(observation["role"], self.max_subquestions)[0] if self.prefill else ""

    # ------------------------------------------------------------------ decoding
    @contextmanager
    def _own_rng(self) -> Iterator[None]:
        """Sample from the policy's own random stream (seeded once), leaving the global one untouched."""
        torch = self.torch
        if self.seed is None or not self.do_sample:
            yield
            return
        cuda = self.model.device.type == "cuda"
        devices = [self.model.device.index or 0] if cuda else []
        with torch.random.fork_rng(devices=devices):
            if self._rng_states is None:
                torch.manual_seed(self.seed)
            else:
                torch.set_rng_state(self._rng_states[0])
                if cuda:
                    torch.cuda.set_rng_state(self._rng_states[1], devices[0])
            yield
            self._rng_states = (torch.get_rng_state(), torch.cuda.get_rng_state(devices[0]) if cuda else None)

    def complete(self, prompts: Sequence[list[int]], max_new_tokens: int | Sequence[int], grammars: Sequence[str] | None = None,
                 stop_strings: Sequence[str] | None = None, grammar_kind: str = "gbnf") -> list[tuple[list[int], list[float], bool]]:
        """One ``model.generate`` over token-id prompts: per row (completion ids, log-probs, ended by itself).

        ``max_new_tokens``: one budget for every row, or one per row (the batch runs to the largest, and each row is cut
        to its own, as it would be alone). ``grammars``: one grammar text per row, GBNF (or regular expressions with
        ``grammar_kind="regex"``); xgrammar constrains each row to its own. ``stop_strings``: texts after which a row
        stops (what the batch pads it with after that is not its). A row's completion ends at its first end-of-sequence
        token, which it keeps.
        """
        budgets = [max_new_tokens] * len(prompts) if isinstance(max_new_tokens, int) else list(max_new_tokens)
        max_new_tokens = max(budgets)
        torch = self.torch
        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id
        eos = self.tokenizer.eos_token_id
        input_ids = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompts])
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        extra: dict[str, Any] = {}
        if grammars is not None:
            extra["logits_processor"] = [self.constraint.processor([self.constraint.compile(g, grammar_kind) for g in grammars])]
        if stop_strings:
            extra.update(stop_strings=list(stop_strings), tokenizer=self.tokenizer)
        with torch.no_grad(), self._own_rng():
            out = self.model.generate(
                input_ids=input_ids.to(self.model.device),
                attention_mask=attention.to(self.model.device),
                max_new_tokens=max_new_tokens,
                do_sample=self.do_sample,
                temperature=self.temperature if self.do_sample else None,
                top_p=self.top_p if self.do_sample else None,
                top_k=None,
                pad_token_id=pad,
                eos_token_id=eos,
                return_dict_in_generate=True,
                output_scores=True,
                **extra,
            )
            scores = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
        results = []
        for i in range(len(prompts)):
            completion = out.sequences[i, width:].tolist()[: budgets[i]]
            logprobs = scores[i].tolist()[: budgets[i]]
            n = completion.index(eos) + 1 if eos in completion else len(completion)
            ended = eos in completion
            if stop_strings:  # a row stopped by a stop string is padded with pad (here eos) tokens it never sampled
                stop = self._stop_length(completion[: n - 1] if ended else completion, stop_strings)
                if stop is not None:
                    n, ended = stop, True
            results.append((completion[:n], logprobs[:n], ended))
        return results

    def _stop_length(self, ids: list[int], stop_strings: Sequence[str]) -> int | None:
        """The fewest leading ``ids`` whose text holds a stop string (None: none does); found by bisection, a prefix's
        text only growing with it."""
        def holds(k: int) -> bool:
            text = self.tokenizer.decode(ids[:k], skip_special_tokens=True)
            return any(s in text for s in stop_strings)

        if not ids or not holds(len(ids)):
            return None
        lo, hi = 1, len(ids)
        while lo < hi:
            mid = (lo + hi) // 2
            if holds(mid):
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _start(self, observation: Mapping[str, Any], budget: int | None) -> _Output:
        role = observation["role"]
        if role not in self.roles:
            raise ValueError(f"this policy plays {', '.join(self.roles)}; it was asked to play {role!r}")
        grammar, steps = None, None
        if self.constrain and role in ("qds", "qdp"):
            steps = DecompositionSteps.of(observation, self.max_subquestions)
            grammar = steps.grammar()
        elif self.constrain:
            grammar = output_grammar(observation, max_subquestions=self.max_subquestions)
        closing = output_tags(role, subquestion_limit(observation, self.max_subquestions))[1]
        return _Output(observation, self.prefix(observation), self.prompt_ids(observation),
                       self.max_new_tokens[role] if budget is None else budget, grammar, closing, steps)

    def _grammar_text(self, out: _Output) -> str:
        assert out.grammar is not None
        # the first opening tag is part of the prompt when prefilled; later ones were written by the model
        return out.grammar.gbnf if self.prefill or out.segment_start else out.grammar.full_gbnf

    def _segment(self, out: _Output) -> str:
        """The current step's text after its prefix."""
        eos = self.tokenizer.eos_token_id
        text = self.tokenizer.decode([t for t in out.completion_ids[out.segment_start:] if t != eos], skip_special_tokens=True)
        return text if self.prefill or out.segment_start else text.removeprefix(out.grammar.prefix if out.grammar else "")

    def _absorb(self, out: _Output, ids: list[int], logprobs: list[float], ended: bool) -> bool:
        """Add one round's tokens to ``out``; True when the decomposition goes on with another sub-question."""
        out.completion_ids += ids
        out.logprobs += logprobs
        out.budget -= len(ids)
        out.finished = ended
        if out.steps is None or not ended:
            return False
        segment = self._segment(out)
        if not out.steps.add(segment):
            return False
        # drop the end-of-sequence token the step grammar forced after the next opening tag, and go on
        if out.completion_ids[-1] == self.tokenizer.eos_token_id:
            out.completion_ids.pop()
            out.logprobs.pop()
        if out.budget <= 0:  # no tokens left for that sub-question: the output is the ones written, cut (see _text)
            out.finished = False
            return False
        out.segment_start = len(out.completion_ids)
        out.grammar = out.steps.grammar()
        return True

    def _text(self, out: _Output) -> str:
        text = out.prefix + self.tokenizer.decode(out.completion_ids, skip_special_tokens=True)
        if out.finished or out.grammar is None:
            return text
        closed = close_cut_output(out.grammar, text, self._segment(out))
        return drop_cut_opening(closed) if closed == text and out.steps is not None else closed

    def score_workflows(self, observation: Mapping[str, Any]) -> list[tuple[str, list[int], list[float]]]:
        """Every workflow valid at this planner step, with the model's log-probability of each of its tokens.

        Per workflow: ``(text, token ids, log-probs)``, the text being what follows the prefilled tag (the
        closing tag included; the ids end with the end-of-sequence token). One forward pass over the
        prompt, whose cache all candidates share.
        """
        torch = self.torch
        opening, closing = output_tags("planner")
        allowed = frozenset(fields_of(observation).get("modules") or MODULE_CODES)
        texts = [("" if self.prefill else opening) + ",".join(w) + closing for w in valid_workflows(allowed)]
        eos = self.tokenizer.eos_token_id
        conts = [self.tokenizer(t, add_special_tokens=False)["input_ids"] + [eos] for t in texts]
        prompt = self.prompt_ids(observation)
        width = max(len(c) for c in conts)
        ids = torch.tensor([c + [eos] * (width - len(c)) for c in conts], device=self.model.device)
        mask = torch.tensor([[1] * (len(prompt) + len(c)) + [0] * (width - len(c)) for c in conts], device=self.model.device)
        # transformers 5 names the key-value cache `cache`; earlier versions `past_key_values`
        name = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"
        with torch.no_grad():
            first = self.model(input_ids=torch.tensor([prompt], device=self.model.device), use_cache=True)
            cache = getattr(first, name)
            cache.batch_repeat_interleave(len(conts))
            rest = self.model(input_ids=ids, attention_mask=mask, **{name: cache})
            logits = torch.cat([first.logits[:, -1:].expand(len(conts), -1, -1), rest.logits[:, :-1]], dim=1)
            logprobs = torch.log_softmax(logits.float(), dim=-1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)
        return [(t, c, logprobs[i, : len(c)].tolist()) for i, (t, c) in enumerate(zip(texts, conts, strict=True))]

    def _scored_plan(self, observation: Mapping[str, Any]) -> Generation:
        """The planner's output chosen among the valid workflows by likelihood (greedy: the most likely; else sampled)."""
        torch = self.torch
        scored = self.score_workflows(observation)
        totals = torch.tensor([sum(lps) for _, _, lps in scored])
        if self.do_sample:
            with self._own_rng():
                pick = int(torch.multinomial(torch.softmax(totals / self.temperature, dim=0), 1))
        else:
            pick = int(torch.argmax(totals))
        text, ids, lps = scored[pick]
        return Generation(text=self.prefix(observation) + text, prompt_ids=self.prompt_ids(observation), completion_ids=ids,
                          logprobs=lps)

    def generate(self, observations: Sequence[Mapping[str, Any]], max_new_tokens: int | None = None) -> list[Generation]:
        """Generate for a batch of observations (one ``model.generate`` per round; decompositions take one round per sub-question)."""
        scored = {i: self._scored_plan(obs) for i, obs in enumerate(observations) if self.planner_scoring and obs["role"] == "planner"}
        outputs = [self._start(obs, max_new_tokens) for i, obs in enumerate(observations) if obs["role"] and i not in scored]
        pending = list(outputs)
        while pending:
            prompts = [o.prompt_ids + o.completion_ids for o in pending]
            budgets = [max(1, o.budget) for o in pending]  # each row its own, as alone
            if self.constrain:
                rounds = self.complete(prompts, budgets, grammars=[self._grammar_text(o) for o in pending])
            else:
                rounds = self.complete(prompts, budgets, stop_strings=sorted({o.closing for o in pending}))
            pending = [o for o, (ids, lps, ended) in zip(pending, rounds, strict=True) if self._absorb(o, ids, lps, ended)]
        done = iter([Generation(text=self._text(o), prompt_ids=o.prompt_ids, completion_ids=o.completion_ids, logprobs=o.logprobs,
                                finished=o.finished) for o in outputs])
        # an observation with no acting role (an ended sub-env of a vector env, awaiting its reset) gets an empty action
        return [scored[i] if i in scored else next(done) if obs["role"] else Generation("", [], [], [])
                for i, obs in enumerate(observations)]

    def act(self, role: str, observation: Mapping[str, Any]) -> str:
        return self.generate([{**observation, "role": role}])[0].text

    def act_batch(self, observations: Sequence[Mapping[str, Any]]) -> list[str]:
        return [g.text for g in self.generate(observations)]
