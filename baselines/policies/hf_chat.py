"""``HFChatPolicy``: any HuggingFace chat model plays any set of roles (one shared backbone for all roles).

The observation's ``system`` and ``user`` texts (rendered by :mod:`jade_env.roles.prompts`) go through
the model's chat template; generation is greedy by default (``do_sample=True`` for sampling with
``temperature``/``top_p``). ``generate`` works on a batch of observations (the sub-envs of a vector
env) with left padding, and returns, with each text, the prompt and completion token ids and the
log-probability of every completion token, so a trainer can use them without re-tokenising.

Roles outside ``roles`` are refused (``act`` raises ``ValueError``), so a policy bound to a subset of
roles cannot silently answer for another.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from jade_env.roles.ids import ROLES


@dataclass(frozen=True, slots=True)
class Generation:
    """One generated output: its text, the token ids of prompt and completion, and completion log-probs."""

    text: str
    prompt_ids: list[int]
    completion_ids: list[int]
    logprobs: list[float]


class HFChatPolicy:
    """A ``transformers`` causal LM with a chat template, as a policy for every role it is given."""

    def __init__(
        self,
        model,
        tokenizer,
        roles: Iterable[str] | None = None,
        max_new_tokens: int = 64,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_prompt_tokens: int = 2048,
        seed: int | None = None,
    ) -> None:
        import torch

        self.torch = torch
        self.model = model
        self.tokenizer = tokenizer
        self.roles = tuple(ROLES if roles is None else roles)
        self.max_new_tokens, self.do_sample = max_new_tokens, do_sample
        self.temperature, self.top_p = temperature, top_p
        self.max_prompt_tokens = max_prompt_tokens
        self.generator_seed = seed
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError("the tokenizer has no chat template; set tokenizer.chat_template (a Jinja string) first")

    @classmethod
    def from_pretrained(cls, path: str, roles: Iterable[str] | None = None, device: str = "cpu", **kwargs) -> HFChatPolicy:
        """Load a model folder or hub id (offline when HF_HUB_OFFLINE=1) with its tokenizer."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path).to(device)
        model.eval()
        return cls(model, tokenizer, roles=roles, **kwargs)

    def prompt_ids(self, observation: dict[str, str]) -> list[int]:
        """The chat-templated prompt of an observation, as token ids (cut on the left to ``max_prompt_tokens``)."""
        messages = [{"role": "system", "content": observation["system"]}, {"role": "user", "content": observation["user"]}]
        text = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids[-self.max_prompt_tokens:]

    def generate(self, observations: Sequence[dict[str, str]]) -> list[Generation]:
        """Generate for a batch of observations in one ``model.generate`` call."""
        torch = self.torch
        for obs in observations:
            if obs["role"] not in self.roles:
                raise ValueError(f"this policy plays {', '.join(self.roles)}; it was asked to play {obs['role']!r}")
        prompts = [self.prompt_ids(o) for o in observations]
        width = max(len(p) for p in prompts)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        if self.generator_seed is not None:
            torch.manual_seed(self.generator_seed)
        with torch.no_grad():
            out = self.model.generate(
                input_ids=input_ids.to(self.model.device),
                attention_mask=attention.to(self.model.device),
                max_new_tokens=self.max_new_tokens,
                do_sample=self.do_sample,
                temperature=self.temperature if self.do_sample else None,
                top_p=self.top_p if self.do_sample else None,
                pad_token_id=pad,
                eos_token_id=self.tokenizer.eos_token_id,
                return_dict_in_generate=True,
                output_scores=True,
            )
            scores = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
        results = []
        eos = self.tokenizer.eos_token_id
        for i, prompt in enumerate(prompts):
            completion = out.sequences[i, width:].tolist()
            logprobs = scores[i].tolist()
            n = len(completion)
            for j, tok in enumerate(completion):
                if tok == eos:
                    n = j + 1
                    break
            completion, logprobs = completion[:n], logprobs[:n]
            text = self.tokenizer.decode([t for t in completion if t != eos], skip_special_tokens=True)
            results.append(Generation(text=text, prompt_ids=prompt, completion_ids=completion, logprobs=logprobs))
        return results

    def act(self, role: str, observation: dict[str, str]) -> str:
        return self.generate([{**observation, "role": role}])[0].text

    def act_batch(self, observations: Sequence[dict[str, str]]) -> list[str]:
        return [g.text for g in self.generate(observations)]
