"""``OpenAIChatPolicy``: the role prompts sent to an OpenAI-compatible chat endpoint (vLLM, SGLang, llama.cpp).

``POST {base_url}/chat/completions`` with ``{"model", "messages", "max_tokens", "temperature", "top_p",
"logprobs": true}``; the reply's ``choices[0].message.content`` is the action, and
``choices[0].logprobs.content[*].logprob`` (when the server sends them) the completion log-probs.

Like :class:`~baselines.policies.hf_chat.HFChatPolicy`, it constrains every output to its role's
grammar by default and prefills the opening tag. What that takes depends on the server (``server``):

===========  ======================================================================================
server       request
===========  ======================================================================================
vllm         ``structured_outputs: {"grammar": GBNF}`` (vLLM 0.12 and later), and the prefill as a
             final assistant message with ``continue_final_message: true, add_generation_prompt: false``
vllm-legacy  the same with ``guided_grammar`` (vLLM before 0.12)
llama.cpp    ``grammar: GBNF``; llama.cpp's server continues a final assistant message by itself
openai       no grammar and no prefill (``constrain`` and ``prefill`` must be False): stop at the tag
===========  ======================================================================================

Unconstrained requests stop at the closing tag (``stop``; vLLM keeps it with
``include_stop_str_in_output``, other servers drop it and the policy puts it back). A decomposition is
written one sub-question per request, each prefilled with what was written so far (see
:class:`~jade_env.roles.grammars.DecompositionSteps`).

Every request has a timeout for the whole reply (300 s by default: a CPU-served model can take minutes on a long
prompt); failures (connection errors, timeouts, HTTP 5xx and 429, junk bodies: any field read here of the wrong
shape, :func:`~jade_env.executors.endpoint.reply_problem`) are retried with exponential
backoff, ``retries`` times, then raised as one :class:`~jade_env.errors.JadeError` naming the URL and
the last error. The standard library's ``urllib`` does the HTTP, so no extra dependency is needed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from baselines.policies.hf_chat import Generation, close_cut_output, token_budgets
from jade_env.executors.endpoint import ChatEndpoint
from jade_env.roles.grammars import (
    DEFAULT_MAX_SUBQUESTIONS,
    DecompositionSteps,
    OutputGrammar,
    output_grammar,
    output_tags,
    subquestion_limit,
)
from jade_env.roles.ids import ROLES

SERVERS: tuple[str, ...] = ("vllm", "vllm-legacy", "llama.cpp", "openai")
DEFAULT_TIMEOUT_S = 300.0


class OpenAIChatPolicy:
    """A chat-completions endpoint as a policy for every role it is given."""

    def __init__(
        self,
        base_url: str,
        model: str,
        roles: Iterable[str] | None = None,
        api_key: str | None = None,
        max_tokens: int | Mapping[str, int] | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = 3,
        backoff: float = 0.5,
        constrain: bool = True,
        prefill: bool = True,
        server: str = "vllm",
        max_subquestions: int = DEFAULT_MAX_SUBQUESTIONS,
    ) -> None:
        if server not in SERVERS:
            raise ValueError(f"unknown server {server!r}; expected one of {', '.join(SERVERS)}")
        if server == "openai" and (constrain or prefill):
            raise ValueError("server='openai' takes no grammar and no prefill: pass constrain=False, prefill=False "
                             "(or name the server: vllm, vllm-legacy, llama.cpp)")
        self.endpoint = ChatEndpoint(base_url, api_key=api_key, timeout=timeout, retries=retries, backoff=backoff)
        self.url, self.model = self.endpoint.url, model
        self.roles = tuple(ROLES if roles is None else roles)
        self.max_tokens = token_budgets(max_tokens)
        self.temperature, self.top_p = temperature, top_p
        self.constrain, self.prefill, self.server = constrain, prefill, server
        self.max_subquestions = max_subquestions

    def _request(self, obs: Mapping[str, Any], written: str, max_tokens: int, grammar: OutputGrammar | None = None,
                 stop: str | None = None) -> tuple[str, list[float], bool, int]:
        """One completion continuing ``written`` (the prefill): (text, log-probs, ended by itself, tokens)."""
        messages = [{"role": "system", "content": obs["system"]}, {"role": "user", "content": obs["user"]}]
        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": max(1, max_tokens),
                                "temperature": self.temperature, "top_p": self.top_p, "logprobs": True}
        if written:
            messages.append({"role": "assistant", "content": written})
            if self.server.startswith("vllm"):
                body.update(continue_final_message=True, add_generation_prompt=False)
        if grammar is not None:  # the whole output's grammar when nothing is prefilled
            body.update(grammar.request_fields(self.server, whole=not written))
        if stop:
            body["stop"] = [stop]
            if self.server.startswith("vllm"):
                body["include_stop_str_in_output"] = True
        reply = self.endpoint.post(body)
        choice = reply["choices"][0]
        text = (choice.get("message") or {}).get("content") or ""
        content = ((choice.get("logprobs") or {}).get("content")) or []
        reason = choice.get("finish_reason") or ""
        if stop and reason == "stop" and not text.endswith(stop) and not self.server.startswith("vllm"):
            text += stop  # the server dropped the stop string it stopped at
        logprobs = [float(t.get("logprob", 0.0)) for t in content]
        tokens = int((reply.get("usage") or {}).get("completion_tokens") or len(logprobs) or len(text))
        return text, logprobs, reason == "stop", tokens

    def _one(self, obs: Mapping[str, Any]) -> Generation:
        role = obs["role"]
        if role not in self.roles:
            raise ValueError(f"this policy plays {', '.join(self.roles)}; it was asked to play {role!r}")
        opening, closing = output_tags(role, subquestion_limit(obs, self.max_subquestions))
        budget = self.max_tokens[role]
        prefix = opening if self.prefill else ""
        if not self.constrain:
            text, logprobs, ended, _ = self._request(obs, prefix, budget, stop=closing)
            return Generation(text=prefix + text, prompt_ids=[], completion_ids=[], logprobs=logprobs, finished=ended)
        if role not in ("qds", "qdp"):
            grammar = output_grammar(obs, max_subquestions=self.max_subquestions)
            text, logprobs, ended, _ = self._request(obs, prefix, budget, grammar)
            text = prefix + text if ended else close_cut_output(grammar, prefix + text, text.removeprefix(grammar.prefix))
            return Generation(text=text, prompt_ids=[], completion_ids=[], logprobs=logprobs, finished=ended)
        steps = DecompositionSteps.of(obs, self.max_subquestions)
        logprobs: list[float] = []
        written = prefix
        while True:
            grammar = steps.grammar()
            text, lps, ended, tokens = self._request(obs, written, budget, grammar)
            logprobs += lps
            budget -= tokens
            written += text
            if not ended:  # cut short by the budget
                written = close_cut_output(grammar, written, text.removeprefix(grammar.prefix))
                break
            if not steps.add(text.removeprefix(grammar.prefix)) or budget <= 0:
                break
        return Generation(text=written, prompt_ids=[], completion_ids=[], logprobs=logprobs, finished=ended)

    def generate(self, observations: Sequence[Mapping[str, Any]]) -> list[Generation]:
        """One output per observation (an empty one where no role acts: an ended sub-env awaiting its reset)."""
        return [self._one(obs) if obs["role"] else Generation("", [], [], []) for obs in observations]

    def act(self, role: str, observation: Mapping[str, Any]) -> str:
        return self.generate([{**observation, "role": role}])[0].text

    def act_batch(self, observations: Sequence[Mapping[str, Any]]) -> list[str]:
        return [g.text for g in self.generate(observations)]


