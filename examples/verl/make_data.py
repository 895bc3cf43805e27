"""Write the Parquet datasets examples/verl/jade_grpo.yaml reads: one row per question of a JadeRAG env's split.

    python examples/verl/make_data.py --env JadeRAG-HotpotQA-v0 --env-kwargs '{"retriever": "remote:http://HOST:8000"}' --out data/jade_verl
    python examples/verl/make_data.py --env JadeRAG-Synthetic-Monolithic-v0 --agent jade_search_agent --out data/jade_verl

Serve the retriever with `jade-rag serve-retriever` (docs/retrieval_serving.md) so that every rollout worker
shares one index; `--train-roles planner` trains the planner only (the decoupled paradigm).
"""

import argparse
import json
from pathlib import Path

import gymnasium as gym

import jade_env  # noqa: F401
from baselines.trainers.verl_reward import rows, write_parquet

p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
p.add_argument("--env", default="JadeRAG-Synthetic-v0")
p.add_argument("--env-kwargs", type=json.loads, default={})
p.add_argument("--val-split", default=None, help="split of the validation rows (default: the training split)")
p.add_argument("--agent", default="jade_team_agent", choices=["jade_team_agent", "jade_search_agent"])
p.add_argument("--train-roles", nargs="*", default=None)
p.add_argument("--outcome", default="em", choices=["em", "f1", "sub_em"])
p.add_argument("--out", default="data/jade_verl")
args = p.parse_args()

out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
for name, split in (("train", args.env_kwargs.get("split")), ("val", args.val_split or args.env_kwargs.get("split"))):
    kwargs = {**args.env_kwargs, **({"split": split} if split else {})}
    env = gym.make(args.env, **kwargs)
    records = rows(env, args.env, kwargs, args.agent, args.train_roles, args.outcome)
    write_parquet(records, str(out / f"{name}.parquet"))
    print(f"{out / f'{name}.parquet'}: {len(records)} rows")
    env.close()
