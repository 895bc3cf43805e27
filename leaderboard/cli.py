"""``jade-rag leaderboard validate|submit|list|remove|render|tracks`` over a SQLite database.

    jade-rag leaderboard submit --db DB --track TRACK --predictions FILE [--metadata FILE] [--name NAME]
    jade-rag leaderboard render --db DB --out DIR

A bad submission, a missing track, or a locked or corrupt database gives one clear message (every
problem of a submission, one per line) and exit status 2; the database is left as it was.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    from leaderboard.store import default_db

    p = subparsers.add_parser("leaderboard", help="validate, submit, list, remove and render leaderboard entries",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="leaderboard_command", metavar="SUBCOMMAND", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--db", default=str(default_db()), help=f"the SQLite database (default {default_db()})")

    for name in ("validate", "submit"):
        q = sub.add_parser(name, help=f"{name} a submission")
        q.add_argument("--track", required=True)
        q.add_argument("--predictions", required=True, type=Path)
        q.add_argument("--metadata", type=Path, default=None, help="submission.json (method, paradigm, model, ...)")
        q.add_argument("--name", default=None, help="the method name (overrides the metadata's)")
        common(q)
        q.set_defaults(func=run_validate if name == "validate" else run_submit)
    q = sub.add_parser("list", help="list stored submissions")
    q.add_argument("--track", default=None)
    common(q)
    q.set_defaults(func=run_list)
    q = sub.add_parser("remove", help="remove a submission by id")
    q.add_argument("id", type=int)
    common(q)
    q.set_defaults(func=run_remove)
    q = sub.add_parser("render", help="write index.html and leaderboard.md")
    q.add_argument("--out", required=True, type=Path)
    common(q)
    q.set_defaults(func=run_render)
    q = sub.add_parser("tracks", help="list the tracks, each with the command that makes a submission for it")
    q.set_defaults(func=run_tracks)


def _load(args: argparse.Namespace):
    from leaderboard.submission import load_submission
    from leaderboard.tracks import get_track

    track = get_track(args.track)
    return track, load_submission(track, args.predictions, args.metadata, args.name)


def run_validate(args: argparse.Namespace) -> int:
    track, submission = _load(args)
    print(f"valid: {len(submission.predictions)} predictions for track {track.slug}, {len(submission.missing)} question(s) "
          f"missing (they score 0)")
    return 0


def run_submit(args: argparse.Namespace) -> int:
    from leaderboard.store import submit

    track, submission = _load(args)
    sid, created, scores = submit(args.db, track, submission)
    state = "stored" if created else "already stored (same files)"
    print(f"submission {sid} {state}: {submission.metadata.method} on {track.slug}: EM {scores['em']:.3f}, F1 {scores['f1']:.3f}, "
          f"sub_em {scores['sub_em']:.3f}, {scores['n_missing']} missing of {scores['n']}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from leaderboard.store import rows

    for r in rows(args.db, args.track):
        print(f"{r['id']:>4}  {r['track']:<14} {r['method'][:40]:<40} {r['paradigm']:<10} F1 {r['f1']:.3f}  EM {r['em']:.3f}  "
              f"missing {r['n_missing']}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    from leaderboard.store import remove

    remove(args.db, args.id)
    print(f"removed submission {args.id}")
    return 0


def run_render(args: argparse.Namespace) -> int:
    from jade_env.errors import output_folder
    from leaderboard.render import render
    from leaderboard.store import rows

    output_folder(args.out)
    page, md = render(rows(args.db), args.out)
    print(f"{page}\n{md}")
    return 0


def run_tracks(args: argparse.Namespace) -> int:
    from leaderboard.tracks import TRACKS

    for t in TRACKS.values():
        print(f"{t.slug}: {t.title}\n    env {t.env_id}, corpus {t.corpus}, top_k {t.top_k}, max_steps {t.max_steps}, "
              f"split {t.split_hash[:16] if t.pinned else 'not pinned yet'}\n    questions: {t.obtain}\n    run: {t.command()}")
    return 0
