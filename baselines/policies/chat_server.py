"""A small OpenAI-compatible chat server over an ``HFChatPolicy`` (``POST /v1/chat/completions``).

It serves a local model (the tiny test model, SmolLM2) on loopback, so that ``OpenAIChatPolicy`` is
tested against a real HTTP server, and so that one model can be shared by several processes. It speaks
the parts of vLLM's dialect the policy uses:

* ``messages`` with a system and a user message; a final assistant message is continued (a prefill,
  as vLLM does with ``continue_final_message`` and llama.cpp always does);
* ``max_tokens``; ``stop`` (dropped from the text, or kept with ``include_stop_str_in_output``);
* grammars: ``structured_outputs.grammar`` / ``guided_grammar`` / ``grammar`` (GBNF) and
  ``structured_outputs.regex`` / ``guided_regex``, enforced by xgrammar as in vLLM;
* replies in the chat-completions shape with per-token log-probabilities, ``finish_reason`` ``stop``
  or ``length``, and ``usage``.

Sampling follows the served policy's own settings. Standard library only (``http.server``); one
generation at a time.

    python -m baselines.policies.chat_server --model DIR --port 8011
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from baselines.policies.hf_chat import HFChatPolicy
from jade_env.errors import JadeError

MAX_BODY_BYTES = 1 << 22


def _grammar(body: dict[str, Any]) -> tuple[str | None, str]:
    """The request's grammar as (text, kind), from any of the field names vLLM and llama.cpp use."""
    structured = body.get("structured_outputs") or {}
    for text, kind in ((structured.get("grammar"), "gbnf"), (body.get("guided_grammar"), "gbnf"), (body.get("grammar"), "gbnf"),
                       (structured.get("regex"), "regex"), (body.get("guided_regex"), "regex")):
        if text:
            return str(text), kind
    return None, "gbnf"


def complete_chat(policy: HFChatPolicy, body: dict[str, Any], model_name: str) -> dict[str, Any]:
    """Answer one chat-completions request body with ``policy`` (ValueError/KeyError/TypeError on a bad body)."""
    messages = body["messages"]
    system = "\n".join(m["content"] for m in messages if m.get("role") == "system")
    user = "\n".join(m["content"] for m in messages if m.get("role") == "user")
    prefill = messages[-1]["content"] if messages and messages[-1].get("role") == "assistant" else ""
    stops = body.get("stop") or []
    stops = [stops] if isinstance(stops, str) else list(stops)
    grammar, kind = _grammar(body)
    max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 64)
    prompt = policy.chat_prompt_ids(system, user, prefill)
    ids, logprobs, ended = policy.complete([prompt], max_tokens, grammars=[grammar] if grammar else None, grammar_kind=kind,
                                           stop_strings=stops or None)[0]
    text = policy.tokenizer.decode(ids, skip_special_tokens=True)
    hit = min((text.find(s), s) for s in stops if s in text) if any(s in text for s in stops) else None
    if hit is not None:
        text = text[: hit[0] + (len(hit[1]) if body.get("include_stop_str_in_output") else 0)]
    tokens = [policy.tokenizer.decode([t]) for t in ids]
    return {
        "id": "chatcmpl-local",
        "object": "chat.completion",
        "model": model_name,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop" if ended or hit is not None else "length",
            "logprobs": {"content": [{"token": t, "logprob": lp} for t, lp in zip(tokens, logprobs, strict=True)]},
        }],
        "usage": {"prompt_tokens": len(prompt), "completion_tokens": len(ids), "total_tokens": len(prompt) + len(ids)},
    }


def make_server(policy: HFChatPolicy, host: str = "127.0.0.1", port: int = 0, model_name: str = "local") -> ThreadingHTTPServer:
    """A server (not yet serving) that answers chat completions with ``policy``; port 0 picks a free one."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output quiet
            return

        def _reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/health", "/v1/models"):
                self._reply(200, {"object": "list", "data": [{"id": model_name, "object": "model"}]})
            else:
                self._reply(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                self._reply(404, {"error": {"message": f"no route {self.path}"}})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._reply(413, {"error": {"message": f"body of {length} bytes; at most {MAX_BODY_BYTES}"}})
                return
            try:
                body = json.loads(self.rfile.read(length))
                with lock:
                    reply = complete_chat(policy, body, model_name)
            except (ValueError, KeyError, TypeError, AttributeError, JadeError) as err:
                self._reply(400, {"error": {"message": f"expected a chat-completions body with messages: {err}"}})
                return
            self._reply(200, reply)

    return ThreadingHTTPServer((host, port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a local model folder (transformers format)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8011)
    args = parser.parse_args()
    server = make_server(HFChatPolicy.from_pretrained(args.model, constrain=False), args.host, args.port, model_name=args.model)
    print(f"serving {args.model} on http://{args.host}:{server.server_address[1]}/v1/chat/completions", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
