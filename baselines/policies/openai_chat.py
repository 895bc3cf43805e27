"""``OpenAIChatPolicy``: the role prompts sent to an OpenAI-compatible chat endpoint (vLLM, SGLang, llama.cpp).

``POST {base_url}/chat/completions`` with ``{"model", "messages", "max_tokens", "temperature", "top_p",
"logprobs": true}``; the reply's ``choices[0].message.content`` is the action, and
``choices[0].logprobs.content[*].logprob`` (when the server sends them) the completion log-probs.
Every request has a timeout; failures (connection errors, timeouts, HTTP 5xx and 429, junk bodies) are
retried with exponential backoff, ``retries`` times, then raised as one
:class:`~jade_env.errors.JadeError` naming the URL and the last error. The standard library's
``urllib`` does the HTTP, so no extra dependency is needed.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence

from baselines.policies.hf_chat import Generation
from jade_env.errors import JadeError
from jade_env.roles.ids import ROLES


class OpenAIChatPolicy:
    """A chat-completions endpoint as a policy for every role it is given."""

    def __init__(
        self,
        base_url: str,
        model: str,
        roles: Iterable[str] | None = None,
        api_key: str | None = None,
        max_tokens: int = 64,
        temperature: float = 0.0,
        top_p: float = 1.0,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key = model, api_key
        self.roles = tuple(ROLES if roles is None else roles)
        self.max_tokens, self.temperature, self.top_p = max_tokens, temperature, top_p
        self.timeout, self.retries, self.backoff = timeout, retries, backoff

    def _post(self, body: dict) -> dict:
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    reply = json.loads(response.read().decode("utf-8"))
                if not isinstance(reply, dict) or not reply.get("choices"):
                    last = f"reply has no choices: {str(reply)[:120]}"
                    continue
                return reply
            except urllib.error.HTTPError as err:
                last = f"HTTP {err.code} {err.reason}"
                if err.code < 500 and err.code != 429:
                    break  # a client error will not go away by retrying
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
                last = f"{type(err).__name__}: {getattr(err, 'reason', err)}"
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                last = f"reply is not JSON ({err})"
        raise JadeError(f"chat endpoint {self.url} failed after {self.retries + 1} attempt(s): {last}")

    def generate(self, observations: Sequence[dict[str, str]]) -> list[Generation]:
        out = []
        for obs in observations:
            if obs["role"] not in self.roles:
                raise ValueError(f"this policy plays {', '.join(self.roles)}; it was asked to play {obs['role']!r}")
            reply = self._post({
                "model": self.model,
                "messages": [{"role": "system", "content": obs["system"]}, {"role": "user", "content": obs["user"]}],
                "max_tokens": self.max_tokens,
                "temperature": self.temperature,
                "top_p": self.top_p,
                "logprobs": True,
            })
            choice = reply["choices"][0]
            text = (choice.get("message") or {}).get("content") or ""
            content = ((choice.get("logprobs") or {}).get("content")) or []
            out.append(Generation(text=text, prompt_ids=[], completion_ids=[],
                                  logprobs=[float(t.get("logprob", 0.0)) for t in content]))
        return out

    def act(self, role: str, observation: dict[str, str]) -> str:
        return self.generate([{**observation, "role": role}])[0].text
