"""Frozen executors played by a language model behind an OpenAI-compatible chat endpoint (vLLM, SGLang, llama.cpp).

``executor="openai:http://HOST:PORT/v1?model=NAME"`` in ``gym.make`` gives an :class:`EndpointExecutor`: each
uncontrolled role's turn is one ``POST {base_url}/chat/completions`` with the role's system and user text,
and the reply's ``choices[0].message.content`` is the role's output. Query parameters of the spec set
``temperature`` (0), ``max_tokens`` (256), ``top_p`` (1), ``seed`` (none), ``timeout`` (120 s per call, for CPU
servers) and ``retries`` (2); an API key is read from ``$OPENAI_API_KEY`` when set. A failed call (connection
refused, timeout, HTTP 5xx/429 after the retries, junk reply) raises, and the episode driver turns that into an
invalid output of the role with the error as its message: the episode goes on.

The HTTP client is :class:`ChatEndpoint` (standard library only), also used by the language-model policies.
"""

from __future__ import annotations

import http.client
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from jade_env.errors import JadeError

SCHEME = "openai:"


def reply_problem(reply: Any) -> str | None:
    """What makes a chat-completions reply unusable (None: nothing): the fields the policies and executors read, checked."""
    if not isinstance(reply, dict) or not isinstance(reply.get("choices"), list) or not reply["choices"]:
        return f"no choices: {str(reply)[:120]}"
    choice = reply["choices"][0]
    if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
        return f"choices[0] has no message: {str(choice)[:120]}"
    if not isinstance(choice["message"].get("content"), str):
        return f"choices[0].message.content is {type(choice['message'].get('content')).__name__}, not text"
    logprobs = choice.get("logprobs")
    if logprobs is not None:
        content = logprobs.get("content") if isinstance(logprobs, dict) else logprobs
        if content is not None and not (isinstance(content, list) and all(
                isinstance(t, dict) and isinstance(t.get("logprob", 0.0), int | float) and not isinstance(t.get("logprob"), bool)
                for t in content)):
            return f"choices[0].logprobs.content is not a list of {{logprob: number}}: {str(content)[:120]}"
    usage = reply.get("usage")
    if usage is not None and not (isinstance(usage, dict) and isinstance(usage.get("completion_tokens", 0), int | None)):
        return f"usage is not {{completion_tokens: integer}}: {str(usage)[:120]}"
    return None


class ChatEndpoint:
    """``POST {base_url}/chat/completions`` with retries and exponential backoff; one JadeError naming the URL on failure."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 120.0, retries: int = 2,
                 backoff: float = 0.5) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key, self.timeout, self.retries, self.backoff = api_key, float(timeout), int(retries), float(backoff)

    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            deadline = time.monotonic() + self.timeout  # for the whole reply: urllib's timeout bounds each read only
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    chunks = []
                    while chunk := response.read1(1 << 16):  # one read at a time, so a trickling server meets the deadline
                        chunks.append(chunk)
                        if time.monotonic() > deadline:
                            raise TimeoutError(f"no complete reply within {self.timeout:g} s")
                    reply = json.loads(b"".join(chunks).decode("utf-8"))
                problem = reply_problem(reply)
                if problem:
                    last = f"junk reply: {problem}"
                    continue
                return reply
            except urllib.error.HTTPError as err:
                detail = err.read().decode("utf-8", "replace")[:200] if err.fp else ""
                last = f"HTTP {err.code} {err.reason}" + (f": {detail}" if detail else "")
                if err.code < 500 and err.code != 429:
                    break  # a client error will not go away by retrying
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError, http.client.HTTPException) as err:
                last = f"{type(err).__name__}: {getattr(err, 'reason', err)}"
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                last = f"reply is not JSON ({err})"
        raise JadeError(f"chat endpoint {self.url} failed after {self.retries + 1} attempt(s): {last}")

    def __repr__(self) -> str:
        return f"ChatEndpoint({self.url!r})"


class EndpointExecutor:
    """Plays any role by asking a chat endpoint (see the module docstring)."""

    def __init__(self, base_url: str, model: str, temperature: float = 0.0, max_tokens: int = 256, top_p: float = 1.0,
                 seed: int | None = None, timeout: float = 120.0, retries: int = 2, api_key: str | None = None) -> None:
        self.endpoint = ChatEndpoint(base_url, api_key=api_key if api_key is not None else os.environ.get("OPENAI_API_KEY"),
                                     timeout=timeout, retries=retries)
        self.model, self.temperature, self.max_tokens, self.top_p, self.seed = model, temperature, max_tokens, top_p, seed

    @classmethod
    def from_spec(cls, spec: str) -> EndpointExecutor:
        """``openai:http://HOST:PORT/v1?model=NAME&temperature=0.7`` -> an executor (JadeError when malformed)."""
        url = urllib.parse.urlsplit(spec[len(SCHEME):])
        if url.scheme not in ("http", "https") or not url.netloc:
            raise JadeError(f"executor={spec!r}: expected openai:http(s)://HOST:PORT/v1?model=NAME")
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        model = query.pop("model", "")
        if not model:
            raise JadeError(f"executor={spec!r} names no model; add ?model=NAME (the name the server serves)")
        kinds = {"temperature": float, "max_tokens": int, "top_p": float, "seed": int, "timeout": float, "retries": int}
        unknown = sorted(set(query) - set(kinds))
        if unknown:
            raise JadeError(f"executor={spec!r}: unknown parameter {unknown[0]!r}; expected model, {', '.join(kinds)}")
        try:
            options = {k: kinds[k](v) for k, v in query.items()}
        except ValueError as err:
            raise JadeError(f"executor={spec!r}: {err}") from None
        base = urllib.parse.urlunsplit((url.scheme, url.netloc, url.path, "", ""))
        return cls(base, model, **options)

    def act(self, role: str, observation: dict[str, str]) -> str:
        body: dict[str, Any] = {"model": self.model, "max_tokens": self.max_tokens, "temperature": self.temperature,
                                "top_p": self.top_p,
                                "messages": [{"role": "system", "content": observation["system"]},
                                             {"role": "user", "content": observation["user"]}]}
        if self.seed is not None:
            body["seed"] = self.seed
        choice = self.endpoint.post(body)["choices"][0]
        content = (choice.get("message") or {}).get("content") if isinstance(choice, dict) else None
        if not isinstance(content, str):
            raise JadeError(f"chat endpoint {self.endpoint.url} sent a choice without text content: {str(choice)[:120]}")
        return content
