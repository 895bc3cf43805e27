"""Registration of every environment id, in one place: a loop over one table.

``JadeRAG-<Name>-v0``            the team, driven by one policy (shared backbone; JADE joint)
``JadeRAG-<Name>-Decoupled-v0``  the caller plays the planner; ``executor=`` plays the rest (frozen)
``JadeRAG-<Name>-Static-v0``     the fixed graph QR,R,DS,AG; the planner is never asked (static joint)
``JadeRAG-<Name>-Monolithic-v0`` one Search-R1-style agent (``<search>`` / ``<answer>``)
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym


@dataclass(frozen=True, slots=True)
class DatasetEntry:
    name: str  # the id's <Name>
    dataset: str  # the data registry's canonical name
    kind: str  # multi-hop or single-hop
    corpus: str  # the default corpus


DATASETS: tuple[DatasetEntry, ...] = (
    DatasetEntry("HotpotQA", "hotpotqa", "multi-hop", "pooled"),
    DatasetEntry("2Wiki", "2wikimultihopqa", "multi-hop", "pooled"),
    DatasetEntry("MuSiQue", "musique", "multi-hop", "pooled"),
    DatasetEntry("Bamboogle", "bamboogle", "multi-hop", "external (corpus= or retriever='remote:...')"),
    DatasetEntry("NQ", "nq", "single-hop", "external (corpus= or retriever='remote:...')"),
    DatasetEntry("PopQA", "popqa", "single-hop", "external (corpus= or retriever='remote:...')"),
    DatasetEntry("AmbigQA", "ambigqa", "single-hop", "external (corpus= or retriever='remote:...')"),
    DatasetEntry("TriviaQA", "triviaqa", "single-hop", "external (corpus= or retriever='remote:...')"),
    DatasetEntry("Synthetic", "synthetic", "mixed", "the generated world"),
)

#: paradigm suffix -> (entry point, default keywords, description)
PARADIGMS: dict[str, tuple[str, dict, str]] = {
    "": ("jade_env.envs.team_env:JadeRAGEnv", {}, "team, one policy (JADE joint)"),
    "-Decoupled": ("jade_env.envs.team_env:JadeRAGEnv", {"controlled_roles": ("planner",)},
                   "planner only; executor= plays the other roles (frozen executors)"),
    "-Static": ("jade_env.envs.team_env:JadeRAGEnv", {"workflow": "QR,R,DS,AG"}, "fixed graph QR,R,DS,AG (static joint)"),
    "-Monolithic": ("jade_env.envs.monolithic_env:MonolithicRAGEnv", {}, "one Search-R1-style agent"),
}

VERSION = "v0"


def env_id(name: str, suffix: str = "") -> str:
    return f"JadeRAG-{name}{suffix}-{VERSION}"


def registered_ids() -> list[tuple[str, DatasetEntry, str, dict]]:
    """Every (id, dataset entry, paradigm description, default keywords)."""
    return [(env_id(d.name, s), d, desc, {"dataset": d.dataset, **kw}) for d in DATASETS for s, (_, kw, desc) in PARADIGMS.items()]


def register_envs() -> None:
    for d in DATASETS:
        for suffix, (entry_point, kwargs, _) in PARADIGMS.items():
            eid = env_id(d.name, suffix)
            if eid in gym.registry:
                continue
            gym.register(
                id=eid,
                entry_point=entry_point,
                kwargs={"dataset": d.dataset, **kwargs},
                vector_entry_point="jade_env.envs.vector_env:JadeRAGVectorEnv" if entry_point.endswith("JadeRAGEnv") else None,
                disable_env_checker=False,
            )
