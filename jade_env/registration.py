"""Registration of every environment id, in one place: a loop over one table.

``JadeRAG-<Name>-v0``            the team, driven by one policy (shared backbone; JADE joint)
``JadeRAG-<Name>-Decoupled-v0``  the caller plays the planner; the frozen ``executor`` (``"scripted"``) plays the rest
``JadeRAG-<Name>-Static-v0``     the fixed graph QR,R,DS,AG; the planner is never asked (static joint)
``JadeRAG-<Name>-Monolithic-v0`` one Search-R1-style agent (``<search>`` / ``<answer>``)
"""

from __future__ import annotations

import sys
from collections import namedtuple

#: one dataset of the ids: ``name`` (the id's <Name>), ``dataset`` (the data registry's canonical name), ``kind``
#: (multi-hop or single-hop), ``corpus`` (the default corpus). A plain namedtuple: ``typing`` is not imported by
#: ``import jade_env``, which ``jade-rag score`` pays for at every start.
DatasetEntry = namedtuple("DatasetEntry", ["name", "dataset", "kind", "corpus"])


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

TEAM = ("jade_env.envs.team_env:JadeRAGEnv", "jade_env.envs.vector_env:JadeRAGVectorEnv")
MONOLITHIC = ("jade_env.envs.monolithic_env:MonolithicRAGEnv", "jade_env.envs.vector_env:MonolithicRAGVectorEnv")

#: paradigm suffix -> ((entry point, vector entry point), default keywords (JSON-serialisable), description)
PARADIGMS: dict[str, tuple[tuple[str, str], dict, str]] = {
    "": (TEAM, {}, "team, one policy (JADE joint)"),
    "-Decoupled": (TEAM, {"controlled_roles": ["planner"], "executor": "scripted"},
                   "planner only; the frozen executors (executor=, default 'scripted') play the other roles"),
    "-Static": (TEAM, {"workflow": "QR,R,DS,AG"}, "fixed graph QR,R,DS,AG (static joint)"),
    "-Monolithic": (MONOLITHIC, {}, "one Search-R1-style agent"),
}

VERSION = "v0"


def env_id(name: str, suffix: str = "") -> str:
    return f"JadeRAG-{name}{suffix}-{VERSION}"


def registered_ids() -> list[tuple[str, DatasetEntry, str, dict]]:
    """Every (id, dataset entry, paradigm description, default keywords)."""
    return [(env_id(d.name, s), d, desc, {"dataset": d.dataset, **kw}) for d in DATASETS for s, (_, kw, desc) in PARADIGMS.items()]


def register_envs() -> None:
    """Register every id with Gymnasium (idempotent)."""
    import gymnasium as gym

    for d in DATASETS:
        for suffix, ((entry_point, vector_entry_point), kwargs, _) in PARADIGMS.items():
            eid = env_id(d.name, suffix)
            if eid in gym.registry:
                continue
            gym.register(id=eid, entry_point=entry_point, vector_entry_point=vector_entry_point,
                         kwargs={"dataset": d.dataset, **kwargs}, disable_env_checker=False)


class _RegisterAfterGymnasium:
    """A meta path finder that registers the ids as soon as Gymnasium has been imported
    (see :func:`register_when_gymnasium_loads`)."""

    def find_spec(self, name, path=None, target=None):  # noqa: ANN001 - the import system's signature
        if name != "gymnasium":
            return None
        import importlib.util

        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("gymnasium")
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module) -> None:  # noqa: ANN001
            execute(module)
            register_envs()

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def register_when_gymnasium_loads() -> None:
    """Register the ids now if Gymnasium is imported, else the moment it is.

    ``import jade_env`` therefore costs no Gymnasium import by itself (``jade-rag score`` starts as fast as a
    plain script), and ``gym.make("JadeRAG-...")`` always finds the ids, whichever is imported first.
    """
    if "gymnasium" in sys.modules:
        register_envs()
    elif not any(isinstance(f, _RegisterAfterGymnasium) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterAfterGymnasium())


def check_make_kwargs(env_id: str, kwargs: dict) -> None:
    """One clear error for a ``gym.make`` keyword the env does not take, naming the closest valid one.

    ``gym.make("JadeRAG-Synthetic-v0", topk=3)`` would raise a bare TypeError from deep inside Gymnasium; the
    command-line tools call this first, so a mistyped keyword costs one line (and no run folder).
    """
    import difflib
    import importlib
    import inspect

    import gymnasium as gym

    from jade_env.errors import JadeError

    if env_id not in gym.registry:
        known = sorted(k for k in gym.registry if k.startswith("JadeRAG"))
        close = difflib.get_close_matches(env_id, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise JadeError(f"unknown env {env_id!r}{hint}; `jade-rag envs` lists all {len(known)}")
    module, _, name = gym.spec(env_id).entry_point.partition(":")
    accepted = [p for p in inspect.signature(getattr(importlib.import_module(module), name)).parameters if p != "self"]
    gym_keywords = {"max_episode_steps", "disable_env_checker", "render_mode"}
    for key in kwargs:
        if key not in accepted and key not in gym_keywords:
            close = difflib.get_close_matches(key, accepted, n=1)
            raise JadeError(f"{env_id} takes no keyword {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
                            + f"; its keywords: {', '.join(accepted)}")


def make_checked(env_id: str, **kwargs: object) -> object:
    """``gym.make(env_id, **kwargs)`` for command-line tools: a keyword the env does not take, or a value it refuses
    (``top_k=0``, ``strict_format="no"``), is one :class:`~jade_env.errors.JadeError` naming the env, not a traceback."""
    import gymnasium as gym

    from jade_env.errors import JadeError

    check_make_kwargs(env_id, kwargs)
    try:
        return gym.make(env_id, **kwargs)
    except JadeError:
        raise
    except (ValueError, TypeError) as err:
        raise JadeError(f"{env_id}: {err}") from err
