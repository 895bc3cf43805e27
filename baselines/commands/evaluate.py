"""``jade-rag evaluate``: run an agent on an environment and write a scored run folder.

The agent is a reference agent, a language model (``--agent hf`` with a model folder, ``--agent openai``
with an endpoint), or any class (``--agent package.module:Class``), built with ``--agent-kwargs``:

    jade-rag evaluate --env JadeRAG-Synthetic-v0 --agent hf --agent-kwargs '{"model": "DIR"}' --limit 20 --out runs/lm
    jade-rag evaluate --env JadeRAG-Synthetic-v0 --agent openai --limit 20 --out runs/vllm \\
        --agent-kwargs '{"base_url": "http://127.0.0.1:8000/v1", "model": "NAME"}'

Language-model agents constrain every output to its role's grammar unless ``"constrain": false``
(docs/language_models.md lists every keyword)."""

from __future__ import annotations

import argparse
import json

from jade_env.errors import JadeError


def _json_arg(text: str, name: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise JadeError(f"{name} is not valid JSON ({err.msg} at character {err.pos}); expected an object such as "
                        '\'{"data_path": "dev.json"}\'') from None
    if not isinstance(value, dict):
        raise JadeError(f"{name} must be a JSON object, got {type(value).__name__}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    from baselines.agents import AGENTS
    from baselines.evaluate import MODEL_AGENTS

    agents = {**AGENTS, **MODEL_AGENTS}
    p = subparsers.add_parser(
        "evaluate",
        help="run an agent on an env's questions and score it",
        description=__doc__ + "\n\nagents:\n" + "\n".join(f"  {k:<18} {v}" for k, v in agents.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--env", required=True, metavar="ID", help="a registered id, e.g. JadeRAG-Synthetic-v0 (see jade-rag envs)")
    p.add_argument("--agent", required=True, metavar="NAME", help=f"one of: {', '.join(AGENTS)}, hf, openai, or package.module:Class")
    p.add_argument("--env-kwargs", default="{}", metavar="JSON", help="gym.make keywords as a JSON object")
    p.add_argument("--agent-kwargs", default="{}", metavar="JSON", help="agent keywords as a JSON object")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N questions (or a sample with --sample)")
    p.add_argument("--sample", action="store_true", help="with --limit: a seeded random sample instead of the first N")
    p.add_argument("--seed", type=int, default=0, help="seed of the episodes and of --sample (default 0)")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder; a rerun resumes from what it holds")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch CPU threads for a local model (default: torch's choice; 1 is often fastest on a busy machine)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from baselines.evaluate import evaluate

    if args.limit is not None and args.limit < 1:
        raise JadeError(f"--limit must be a positive integer, got {args.limit}")
    if args.threads is not None:
        if args.threads < 1:
            raise JadeError(f"--threads must be a positive integer, got {args.threads}")
        try:
            import torch
        except ImportError:
            raise JadeError("--threads sets torch's CPU threads, and torch is not installed (pip install -e '.[llm]')") from None
        torch.set_num_threads(args.threads)
    metrics = evaluate(args.env, args.agent, args.out, env_kwargs=_json_arg(args.env_kwargs, "--env-kwargs"),
                       agent_kwargs=_json_arg(args.agent_kwargs, "--agent-kwargs"), limit=args.limit, seed=args.seed,
                       sample=args.sample, progress=not args.quiet)
    print(f"{args.agent} on {args.env} ({metrics['n']} questions) -> {args.out}")
    print(f"{'EM':>6} {'F1':>6} {'sub_em':>6} {'rounds':>6} {'calls':>6} {'tokens':>7} {'sp_rec':>6}")
    sp = metrics["supporting_title_recall"]
    print(f"{metrics['em']:>6.3f} {metrics['f1']:>6.3f} {metrics['sub_em']:>6.3f} {metrics.get('rounds_mean', 0):>6.2f} "
          f"{metrics.get('retrieval_calls_mean', 0):>6.2f} {metrics.get('tokens_mean', 0):>7.0f} "
          f"{'-' if sp is None else f'{sp:.3f}':>6}")
    print("workflows: " + ", ".join(f"{w or '-'} {s:.0%}" for w, s in metrics["workflow_distribution"].items()))
    print("invalid outputs: " + (", ".join(f"{r} {v:.0%}" for r, v in metrics["invalid_rate"].items()) or "-"))
    return 0
