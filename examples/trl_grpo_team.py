"""Train a JADE team (or the Monolithic search agent) with TRL's GRPOTrainer, on CPU or one GPU.

    python examples/trl_grpo_team.py --model DIR --env JadeRAG-Synthetic-v0 --max-steps 2 --out runs/trl [--mode decoupled]
    python examples/trl_grpo_team.py --model DIR --env JadeRAG-Synthetic-Monolithic-v0 --max-steps 2 --out runs/trl-mono

DIR is a HF model folder with a chat template (`jade-rag model get smollm2` prints SmolLM2's). Several GPUs:
`accelerate launch examples/trl_grpo_team.py ...`; vLLM generation on a GPU: `--vllm`. See docs/trainers.md.
"""

import argparse
import json

from baselines.trainers.trl_grpo import MODES, Args, train
from jade_env.errors import JadeError


def parse_args() -> Args:
    defaults = Args()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="HF model folder or hub id")
    p.add_argument("--env", default=defaults.env, help="a JadeRAG env id (team, -Decoupled, -Static or -Monolithic)")
    p.add_argument("--env-kwargs", type=json.loads, default=defaults.env_kwargs,
                   help="JSON keywords of gym.make (default: 200 Synthetic questions, a team env capped at 12 steps)")
    p.add_argument("--max-steps", type=int, default=defaults.max_steps)
    p.add_argument("--out", default=defaults.out)
    p.add_argument("--mode", choices=MODES, default=defaults.mode, help="joint: train every role; decoupled: the planner only")
    p.add_argument("--num-generations", type=int, default=defaults.num_generations, help="episodes per question (G)")
    p.add_argument("--questions-per-step", type=int, default=defaults.questions_per_step)
    p.add_argument("--slots", type=int, default=None, help="trained turns per episode that become rows")
    p.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    p.add_argument("--beta", type=float, default=defaults.beta, help="KL coefficient to the reference model")
    p.add_argument("--role-tokens", type=int, default=None, help="tokens per team role output (default: per-role budgets)")
    p.add_argument("--temperature", type=float, default=defaults.temperature)
    p.add_argument("--no-constrain", dest="constrain", action="store_false", help="decode without the role grammars")
    p.add_argument("--vllm", action="store_true", help="generate with TRL's colocated vLLM engine (GPU)")
    p.add_argument("--seed", type=int, default=defaults.seed)
    return Args(**vars(p.parse_args()))


if __name__ == "__main__":
    try:
        result = train(parse_args())
    except JadeError as err:  # a bad argument or keyword: one line, nothing written
        raise SystemExit(f"trl_grpo_team.py: error: {err}") from None
    for step, (loss, rollout) in enumerate(zip(result["losses"], result["rollouts"], strict=False)):
        groups = {k: [round(x, 3) for x in v] for k, v in rollout["group_scores"].items()}
        print(f"step {step}: loss {loss:.6f}  mean global reward {rollout['global_reward']:.3f}  "
              f"rows {rollout['filled_rows']}/{rollout['rows']}  group scores {groups}")
