"""Your own model behind an OpenAI-compatible endpoint (vLLM, SGLang, llama.cpp, TGI) plays every role of the team.

    vllm serve HuggingFaceTB/SmolLM2-135M-Instruct --port 8000        # or any OpenAI-compatible server
    python examples/openai_endpoint.py --base-url http://127.0.0.1:8000/v1 --model HuggingFaceTB/SmolLM2-135M-Instruct

A plain Gymnasium loop: the env says which role acts (``obs["role"]``); ``OpenAIChatPolicy`` writes that role's
output from its prompt, constrained to the role's grammar (the request carries it in vLLM's and llama.cpp's
fields; ``--no-constrain`` for servers that take no grammar). Without a GPU server,
``python -m baselines.policies.chat_server --model DIR --port 8000`` serves a local model folder.
"""

import argparse
from collections import Counter

import gymnasium as gym

import jade_env  # noqa: F401  (registers the JadeRAG ids)
from baselines.policies import OpenAIChatPolicy

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--base-url", required=True, help="the server's /v1 URL")
parser.add_argument("--model", required=True, help="the model name the server knows")
parser.add_argument("--env", default="JadeRAG-Synthetic-v0")
parser.add_argument("--episodes", type=int, default=3)
parser.add_argument("--no-constrain", action="store_true", help="send no grammar (for servers without guided decoding)")
args = parser.parse_args()

env = gym.make(args.env, n=50)
policy = OpenAIChatPolicy(args.base_url, model=args.model, constrain=not args.no_constrain)
invalid: Counter[str] = Counter()
for episode in range(args.episodes):
    obs, info = env.reset(seed=episode, options={"index": episode})
    while True:
        action = policy.act(obs["role"], obs)  # the role's output, as text
        obs, reward, terminated, truncated, info = env.step(action)
        if not info["valid"]:
            invalid[info["role"]] += 1  # a malformed output is penalised, never raised; info["message"] says why
        if terminated or truncated:
            break
    print(f"episode {episode}: workflow {info['workflow'] or '-'}, prediction {info['prediction']!r}, F1 {info['metrics']['f1']:.2f}")
print("invalid outputs per role: " + (", ".join(f"{r} {n}" for r, n in sorted(invalid.items())) or "none"))
env.close()
