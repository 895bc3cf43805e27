#!/usr/bin/env bash
# GRPO on a JadeRAG env with verl on one node with 8 GPUs (not run on these machines: no GPU).
#   pip install "verl==0.9.1" vllm && pip install -e . --no-deps   (verl pins transformers<5.11: its own venv)
#   jade-rag serve-retriever ... &            # one shared index for all rollout workers (docs/retrieval_serving.md)
#   python examples/verl/make_data.py --env JadeRAG-HotpotQA-v0 --env-kwargs '{"retriever": "remote:http://localhost:8000"}'
set -euo pipefail
cd "$(dirname "$0")/../.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
python -m verl.trainer.main_ppo --config-path "$PWD/examples/verl" --config-name jade_grpo \
    trainer.n_gpus_per_node=8 trainer.nnodes=1 "$@"
