#!/usr/bin/env bash
# GRPO on a JadeRAG env with verl on several nodes through Ray (not run on these machines: no GPU).
#   head node:    ray start --head --port=6379
#   other nodes:  ray start --address=HEAD_IP:6379
#   every node needs this repository at the same path, the same venv, and the retriever URL in the data rows.
# Then, on the head node:  NNODES=4 examples/verl/run_ray_cluster.sh [overrides...]
set -euo pipefail
cd "$(dirname "$0")/../.."
NNODES="${NNODES:-2}"
GPUS="${GPUS_PER_NODE:-8}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
ray job submit --address="${RAY_ADDRESS:-http://127.0.0.1:8265}" --runtime-env-json="{\"env_vars\": {\"PYTHONPATH\": \"$PYTHONPATH\"}}" -- \
    python -m verl.trainer.main_ppo --config-path "$PWD/examples/verl" --config-name jade_grpo \
    trainer.n_gpus_per_node="$GPUS" trainer.nnodes="$NNODES" "$@"
