"""A small OpenAI-compatible chat server over an ``HFChatPolicy`` (``POST /v1/chat/completions``).

It serves a local model, such as the tiny test model, on loopback, so that ``OpenAIChatPolicy`` is
tested against a real HTTP server, and so that a model can be shared by several processes. It takes
the system and user messages, generates with the policy, and answers in the chat-completions shape
with per-token log-probabilities. Standard library only (``http.server``); one request at a time.

    python -m baselines.policies.chat_server --model DIR --port 8011
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from baselines.policies.hf_chat import HFChatPolicy

MAX_BODY_BYTES = 1 << 20


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
                messages = body["messages"]
                system = next((m["content"] for m in messages if m.get("role") == "system"), "")
                user = "\n".join(m["content"] for m in messages if m.get("role") == "user")
            except (ValueError, KeyError, TypeError) as err:
                self._reply(400, {"error": {"message": f"expected a chat-completions body with messages: {err}"}})
                return
            with lock:
                policy.max_new_tokens = int(body.get("max_tokens") or policy.max_new_tokens)
                gen = policy.generate([{"role": policy.roles[0], "system": system, "user": user}])[0]
            tokens = [policy.tokenizer.decode([t]) for t in gen.completion_ids]
            self._reply(200, {
                "id": "chatcmpl-local",
                "object": "chat.completion",
                "model": model_name,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": gen.text},
                    "finish_reason": "stop",
                    "logprobs": {"content": [{"token": t, "logprob": lp} for t, lp in zip(tokens, gen.logprobs, strict=True)]},
                }],
                "usage": {"prompt_tokens": len(gen.prompt_ids), "completion_tokens": len(gen.completion_ids)},
            })

    return ThreadingHTTPServer((host, port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a local model folder (transformers format)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8011)
    args = parser.parse_args()
    server = make_server(HFChatPolicy.from_pretrained(args.model), args.host, args.port, model_name=args.model)
    print(f"serving {args.model} on http://{args.host}:{server.server_address[1]}/v1/chat/completions", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
