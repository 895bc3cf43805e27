"""``jade-rag evaluate``: run an agent on an environment and write a scored run folder.

The agent is a reference agent, a language model (``--agent hf`` with a model folder, ``--agent openai``
with an endpoint), or any class (``--agent package.module:Class``), built with ``--agent-kwargs``:

    jade-rag evaluate --env JadeRAG-Synthetic-v0 --agent hf --agent-kwargs '{"model": "DIR"}' --limit 20 --out runs/lm
    jade-rag evaluate --track synthetic --agent rule-planner --out runs/synthetic-rule   # a leaderboard track's env
    jade-rag evaluate --env JadeRAG-Synthetic-v0 --agent openai --limit 20 --out runs/vllm \\
        --agent-kwargs '{"base_url": "http://127.0.0.1:8000/v1", "model": "NAME"}'

Language-model agents constrain every output to its role's grammar unless ``"constrain": false``
(docs/language_models.md lists every keyword)."""

from __future__ import annotations

import argparse

from jade_env.errors import JadeError, json_object


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
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--env", metavar="ID", help="a registered id, e.g. JadeRAG-Synthetic-v0 (see jade-rag envs)")
    where.add_argument("--track", metavar="NAME", help="a leaderboard track: its env, questions and limits, every question "
                       "(see jade-rag leaderboard tracks); the run folder is then ready to submit")
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
    if args.sample and args.limit is None:
        raise JadeError("--sample draws a seeded sample of --limit N questions; give --limit too (without it every question runs)")
    env_id, env_kwargs = args.env, json_object(args.env_kwargs, "--env-kwargs")
    track = None
    if args.track:
        track, env_id, env_kwargs = _track_env(args, env_kwargs)
    metrics = evaluate(env_id, args.agent, args.out, env_kwargs=env_kwargs,
                       agent_kwargs=json_object(args.agent_kwargs, "--agent-kwargs"), limit=args.limit, seed=args.seed,
                       sample=args.sample, progress=not args.quiet)
    if track is not None and metrics["split_hash"] != track.split_hash:
        raise JadeError(f"the env's questions hash to {metrics['split_hash'][:16]}..., not track {track.slug!r}'s pinned "
                        f"{track.split_hash[:16]}...: {args.out} cannot be submitted to that track")
    print(f"{args.agent} on {env_id} ({metrics['n']} questions) -> {args.out}")
    print(f"{'EM':>6} {'F1':>6} {'sub_em':>6} {'rounds':>6} {'calls':>6} {'tokens':>7} {'sp_rec':>6}")
    sp = metrics["supporting_title_recall"]
    print(f"{metrics['em']:>6.3f} {metrics['f1']:>6.3f} {metrics['sub_em']:>6.3f} {metrics.get('rounds_mean', 0):>6.2f} "
          f"{metrics.get('retrieval_calls_mean', 0):>6.2f} {metrics.get('tokens_mean', 0):>7.0f} "
          f"{'-' if sp is None else f'{sp:.3f}':>6}")
    print("workflows: " + ", ".join(f"{w or '-'} {s:.0%}" for w, s in metrics["workflow_distribution"].items()))
    print("invalid outputs: " + (", ".join(f"{r} {v:.0%}" for r, v in metrics["invalid_rate"].items()) or "-"))
    if track is not None:
        print(f"submit: jade-rag leaderboard submit --track {track.slug} --predictions {args.out}/predictions.jsonl "
              "--metadata submission.json")
    return 0


#: the ``gym.make`` keywords a track run may set: where indexes and replayed searches are kept (nothing measured changes)
TRACK_FREE_KEYWORDS = frozenset({"cache_dir", "replay_cache"})


def _track_env(args: argparse.Namespace, extra: dict) -> tuple:
    """The track, its env id and its ``gym.make`` keywords; ``--env-kwargs`` may add keywords, never change a pinned one."""
    from leaderboard.tracks import get_track

    track = get_track(args.track)
    if args.limit is not None or args.sample:
        raise JadeError(f"--track {track.slug} evaluates every question of the track (missing ones would score 0); "
                        f"drop --limit/--sample, or use --env {track.env_id} for a partial run")
    track.examples()  # the track's file is there and hashes to the pinned split, or one message saying what to get
    pinned = track.env_kwargs()
    clash = sorted(k for k in extra if k in pinned and extra[k] != pinned[k])
    if clash:
        raise JadeError(f"track {track.slug} pins " + ", ".join(f"{k}={pinned[k]!r}" for k in clash)
                        + "; --env-kwargs may add keywords (a corpus, a cache) but not change these")
    free = TRACK_FREE_KEYWORDS | ({"corpus"} if track.corpus != "pooled" else set())
    changes = sorted(k for k in extra if k not in pinned and k not in free)
    if changes:  # the rest of the env is the track's too: its defaults (retriever, parsing, rewards, team) are what it measures
        raise JadeError(f"track {track.slug} pins the whole env; --env-kwargs may only give {', '.join(sorted(free))}, "
                        f"not {', '.join(changes)} (use --env {track.env_id} for a run of your own settings)")
    if track.corpus != "pooled" and "corpus" not in extra:
        raise JadeError(f"track {track.slug} retrieves from {track.corpus}: give its passages, e.g. "
                        f"--env-kwargs '{{\"corpus\": \"PASSAGES.jsonl\"}}'")
    return track, track.env_id, {**pinned, **extra}
