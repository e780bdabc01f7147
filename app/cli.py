"""`lookalike`: the command line over the engine.

Exit codes: 0 success, 1 an error with a message (bad model, busy or unusable library,
unreadable input), 2 wrong usage, 130 interrupted (the scan resumes next time).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time

from .words import count

EXAMPLES = """examples:
  lookalike scan ~/Pictures                       scan (again: only what changed is read)
  lookalike groups --threshold 92                 list duplicate groups at score 92
  lookalike groups --json groups.json             the groups and scored pairs as JSON
  lookalike compare a.jpg b.heic                  score 0-100 and the verdict
  lookalike similar query.jpg -k 10               the 10 most alike photos in the library
  lookalike problems                              files that could not be read, and why
  lookalike dedupe --move-to ~/dupes --dry-run    what a clean-up would move (nothing changes)
  lookalike dedupe --trash                        keep the best copy of each group, trash the rest
  lookalike undo                                  put back the files of the last move
  lookalike train ~/labelled --out ~/my-model     fine-tune a model (needs the train extra)
  lookalike --model ~/my-model scan ~/Pictures    scan with another model bundle
"""

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
_STARTED = time.monotonic()     # the command's clock starts with the import of this module


def _version():
    from lookalike.core import __version__
    return __version__


def _checked(cast, kind: str, ok, out_of_range: str):
    """An argparse type: `cast` the text, and `ok(value)` or a usage error (exit 2)."""
    def parse(text):
        try:
            v = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {kind}: {text!r}") from None
        if not ok(v):
            raise argparse.ArgumentTypeError(out_of_range.format(text=text))
        return v
    return parse


# a match score 0-100 (the comparison also rejects nan); a count of at least 1
score_arg = _checked(float, "a number", lambda v: 0.0 <= v <= 100.0,
                     "{text} is outside the match score's range 0-100")
positive_int = _checked(int, "a whole number", lambda v: v >= 1, "must be at least 1, not {text}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lookalike", description="Find duplicate and similar photos.",
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"lookalike {_version()}")
    p.add_argument("--library", metavar="PATH", help="library folder (default: $LOOKALIKE_LIBRARY or "
                                                      "the user data dir)")
    p.add_argument("--model", metavar="DIR", help="model bundle folder (default: the library's model, "
                                                  "else the built-in one)")
    p.add_argument("--faces", action="store_true",
                   help="match the largest face of each photo instead of the whole photo")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="log details")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("scan", help="find photos and compute what is new or changed")
    s.add_argument("roots", nargs="*", help="folders (default: the folders scanned before)")
    s.add_argument("--workers", type=positive_int, default=None, help="decoding threads (at least 1)")
    s.add_argument("--retry-problems", action="store_true",
                   help="read again the files that failed before (they are retried anyway when they change)")

    g = sub.add_parser("groups", help="duplicate groups at a threshold (instant, no rescan)")
    g.add_argument("--threshold", type=score_arg, default=None, help="match score 0-100 (default: the model's)")
    g.add_argument("--json", metavar="FILE", help="write groups and scored pairs as JSON ('-' = stdout)")
    g.add_argument("--relative-to", metavar="DIR", help="write paths relative to this folder")
    g.add_argument("--rule", choices=["rep", "single"], default="rep",
                   help="rep: each member must match the group's representative (default); "
                        "single: single linkage, for measurement")
    g.add_argument("--exact", action="store_true", help="only groups of identical files")
    g.add_argument("--bench-format", action="store_true",
                   help="write groups as plain path lists, the format of the benchmark kit's evaluate.py")

    c = sub.add_parser("compare", help="match score of two photos")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--threshold", type=score_arg, default=None, help="match score 0-100 (default: the model's)")
    c.add_argument("--json", action="store_true", help="print {score, verdict, threshold}")

    m = sub.add_parser("similar", help="the photos in the library most like one photo")
    m.add_argument("photo")
    m.add_argument("-k", type=positive_int, default=10, help="how many photos (at least 1; default 10)")
    m.add_argument("--json", action="store_true")

    pr = sub.add_parser("problems", help="files that could not be read, and why")
    pr.add_argument("--json", action="store_true")

    t = sub.add_parser("train", help="fine-tune a model on labelled folders (needs the train extra: "
                                     "pip install '.[train]')",
                       add_help=False)
    t.add_argument("args", nargs=argparse.REMAINDER)

    d = sub.add_parser("dedupe", help="keep one photo of every group by a rule; trash or move the others",
                       description="For every duplicate group keep one photo chosen by RULE (a photo in a "
                                   "protected folder first) and send the others to the trash or move them. The "
                                   "same guards as the window apply: protected folders, files changed since the "
                                   "scan, and one copy of every group always stays on disk. Moves are undone "
                                   "with `lookalike undo`.")
    d.add_argument("--keep", metavar="RULE", default="highest-resolution",
                   choices=["highest-resolution", "largest", "oldest", "newest"],
                   help="highest-resolution (default), largest, oldest or newest")
    how = d.add_mutually_exclusive_group(required=True)
    how.add_argument("--trash", action="store_true", help="send the others to the system trash")
    how.add_argument("--move-to", metavar="DIR", help="move the others into DIR (undo: lookalike undo)")
    d.add_argument("--dry-run", action="store_true", help="print the plan (files, count, bytes); change nothing")
    d.add_argument("--threshold", type=score_arg, default=None, help="match score 0-100 (default: the model's)")

    sub.add_parser("undo", help="move the files of the last move back where they were")

    sub.add_parser("info", help="where the library, settings and cache are; the model; the library's size")

    sub.add_parser("gui", help="open the desktop window")
    return p


class Failure(Exception):
    def __init__(self, message, code=EXIT_ERROR):
        super().__init__(message)
        self.code = code


def _progress_bar(quiet):
    if quiet:
        return None
    from tqdm import tqdm
    state = {"stage": None, "bar": None}
    labels = {"discover": "finding photos", "hash": "exact copies", "embed": "reading photos",
              "index": "indexing", "neighbours": "matching", "verify": "checking pairs"}

    def on_progress(ev):
        if ev.stage != state["stage"]:
            if state["bar"] is not None:
                state["bar"].close()
            state["stage"] = ev.stage
            state["bar"] = tqdm(total=ev.total or None, desc=labels.get(ev.stage, ev.stage),
                                unit="pair" if ev.stage == "verify" else "photo",
                                file=sys.stderr, leave=False, dynamic_ncols=True)
        bar = state["bar"]
        bar.n = ev.done
        bar.refresh() if ev.done == ev.total else bar.update(0)

    def close():
        if state["bar"] is not None:
            state["bar"].close()
    on_progress.close = close
    return on_progress


def _open(args, write=False):
    from lookalike.core.library import Library, LibraryError
    try:
        return Library(args.library, write=write)
    except LibraryError as exc:
        raise Failure(str(exc)) from None


def _bundle(args, lib=None):
    import dataclasses
    from lookalike.core.bundle import BundleError, load_bundle
    from lookalike.core.library import default_model_dir
    try:
        if args.model:
            bundle = load_bundle(args.model)
        else:
            bundle = lib.bundle() if lib is not None else load_bundle(default_model_dir())
    except BundleError as exc:
        raise Failure(str(exc)) from None
    return dataclasses.replace(bundle, preprocess="face") if args.faces else bundle


def cmd_scan(args):
    from lookalike.core.library import LibraryError
    lib = _open(args, write=True)
    try:
        bundle = _bundle(args, lib)
        roots = args.roots
        for r in roots:
            if not os.path.isdir(r):
                raise Failure(f"not a folder: {r}")
        bar = _progress_bar(args.quiet)
        try:
            stats = lib.scan(roots or None, bundle, progress=bar, workers=args.workers,
                             retry_problems=args.retry_problems)
        except KeyboardInterrupt:
            raise Failure("scan interrupted; run `lookalike scan` again to resume", EXIT_INTERRUPTED) from None
        except LibraryError as exc:
            raise Failure(str(exc)) from None
        finally:
            if bar is not None:
                bar.close()
        groups = lib.grouper(bundle).groups(bundle.thresholds["duplicate"])
        n_problems = len(lib.problems())
        # the time is the command's: start-up, the model, the index and the check included
        print(f"{count(stats.found, 'photo')} ({stats.added:,} new, {stats.changed:,} changed, "
              f"{stats.removed:,} removed; {stats.embedded:,} read now), {count(len(groups), 'group')} at score "
              f"{bundle.thresholds['duplicate']:g}, {count(n_problems, 'problem')}, "
              f"in {time.monotonic() - args.started:.1f} s")
        for r in stats.offline:
            print(f"offline: {r} cannot be read now; its photos are kept as they were and are not read again "
                  f"when it is back (remove it from the library to forget them)")
        if n_problems:
            print("see them with: lookalike problems")
    finally:
        lib.close()
    return EXIT_OK


def _rel(path, base):
    return os.path.relpath(path, base) if base else path


def cmd_groups(args):
    from lookalike.core import results
    from lookalike.core.library import LibraryError
    lib = _open(args)
    try:
        bundle = _bundle(args, lib)
        t = bundle.thresholds["duplicate"] if args.threshold is None else args.threshold
        try:
            grouper = lib.grouper(bundle)
        except LibraryError as exc:
            raise Failure(str(exc)) from None
        res = lib.results(bundle, t, rule=args.rule, exact=args.exact, grouper=grouper)
        base = args.relative_to
        if args.json:
            doc = results.document(lib.catalog, res, t, bundle.describe(), pairs=grouper.pairs(), base=base,
                                   grouping_rule=args.rule, bench_format=args.bench_format)
            text = json.dumps(doc, indent=1, ensure_ascii=False)      # valid UTF-8 (results.json_path)
            if args.json == "-":
                print(text)
            else:
                with open(args.json, "w", encoding="utf-8") as fh:
                    fh.write(text)
                print(f"{count(len(res), 'group')} at score {t:g} written to {args.json}", file=sys.stderr)
        else:
            for n, g in enumerate(results.describe(lib.catalog, res, range(len(res))), 1):
                print(f"group {n}: {count(len(g), 'photo')}, {res.reclaim[n - 1] / 1e6:.1f} MB reclaimable "
                      f"keeping the first")
                for m in g:
                    tag = "keep" if m.keep else "identical" if m.identical else f"{m.score:6.2f}"
                    if m.raw_jpeg_pair:
                        tag = f"RAW + JPEG pair {tag.strip()}"
                    dims = f"{m.width}x{m.height}" if m.width else "?"
                    print(f"  {tag:>9}  {dims:>11}  {_rel(m.path, base)}")
            print(f"{count(len(res), 'group')} at score {t:g}, {res.reclaimable / 1e6:.1f} MB reclaimable")
    finally:
        lib.close()
    return EXIT_OK


def cmd_compare(args):
    from lookalike.core.decode import DecodeError
    from lookalike.core.library import compare_in_library, default_library_dir, verdict
    bundle = _bundle(args, None) if args.model else _bundle_for_readonly(args)
    for p in (args.a, args.b):
        if not os.path.exists(p):
            raise Failure(f"no such file: {p}")
    try:
        score = compare_in_library(args.library or default_library_dir(), args.a, args.b, bundle)
    except DecodeError as exc:
        raise Failure(f"cannot read {exc}") from None
    t = bundle.thresholds["duplicate"] if args.threshold is None else args.threshold
    identical = score >= 100.0 and _same_bytes(args.a, args.b)
    v = verdict(score, bundle, t, identical=identical)
    if args.json:
        print(json.dumps({"score": round(score, 2), "verdict": v, "threshold": t}))
    else:
        print(f"{score:.2f}  {v} (threshold {t:g})")
    return EXIT_OK


def _same_bytes(a, b):
    from lookalike.core.hashing import full_digest
    return os.path.getsize(a) == os.path.getsize(b) and full_digest(a) == full_digest(b)


def _bundle_for_readonly(args):
    """The model of the library when one exists, else the default; never creates a library."""
    from lookalike.core.library import default_library_dir
    lib_dir = args.library or default_library_dir()
    if os.path.isfile(os.path.join(lib_dir, "catalog.sqlite")):
        lib = _open(args)
        try:
            return _bundle(args, lib)
        finally:
            lib.close()
    return _bundle(args, None)


def cmd_similar(args):
    from lookalike.core.decode import DecodeError
    if not os.path.exists(args.photo):
        raise Failure(f"no such file: {args.photo}")
    lib = _open(args)
    try:
        bundle = _bundle(args, lib)
        try:
            hits = lib.similar(args.photo, bundle, k=args.k)
        except DecodeError as exc:
            raise Failure(f"cannot read {exc}") from None
        if args.json:
            print(json.dumps([{"path": p, "score": s} for p, s in hits], indent=1, ensure_ascii=False))
        else:
            for p, s in hits:
                print(f"{s:6.2f}  {p}")
    finally:
        lib.close()
    return EXIT_OK


def cmd_problems(args):
    lib = _open(args)
    try:
        rows = lib.problems()
    finally:
        lib.close()
    if args.json:
        print(json.dumps([{"path": p, "reason": r} for p, r in rows], indent=1, ensure_ascii=False))
    else:
        for p, r in rows:
            print(f"{p}: {r}")
        print(count(len(rows), "problem"))
    return EXIT_OK


def cmd_train(args):
    import importlib.util
    if importlib.util.find_spec("torch") is None or getattr(sys, "frozen", False):
        from lookalike.app.install import train_hint
        raise Failure(train_hint())
    cmd = [sys.executable, "-m", "lookalike.trainer", *args.args]
    return subprocess.call(cmd)


def _stay(refused) -> str:
    return f"{count(len(refused), 'marked photo')} {'stays' if len(refused) == 1 else 'stay'}"


def cmd_dedupe(args):
    from lookalike.core import actions, results
    from lookalike.core.library import LibraryError
    lib = _open(args, write=not args.dry_run)
    try:
        bundle = _bundle(args, lib)
        t = bundle.thresholds["duplicate"] if args.threshold is None else args.threshold
        try:
            res = lib.results(bundle, t, keep=args.keep)
        except LibraryError as exc:
            raise Failure(str(exc)) from None
        groups = results.describe(lib.catalog, res, range(len(res)))
        marked = {m.path for g in groups for m in g if not m.keep and not m.raw_jpeg_pair}
        plan = actions.plan_removal(lib, marked, groups)
        verb = "trash" if args.trash else f"move to {args.move_to}"
        if args.dry_run:
            for path in plan.ok:
                print(f"{'trash' if args.trash else 'move'}  {path}")
            for path, why in plan.refused:
                print(f"keep   {path}  ({why})")
            print(f"dry run: would {verb} {count(len(plan.ok), 'photo')} ({plan.bytes / 1e6:.1f} MB) from "
                  f"{count(len(res), 'group')} at score {t:g}, keeping the {args.keep} copy; {_stay(plan.refused)}")
            return EXIT_OK
        if not plan.ok:
            print(f"nothing to {verb.split()[0]}: {count(len(res), 'group')} at score {t:g}, {_stay(plan.refused)}")
            return EXIT_OK
        out = actions.trash(lib, plan) if args.trash else actions.move(lib, plan, args.move_to)
        for path, why in out.failed:
            print(f"could not {verb.split()[0]} {path}: {why}", file=sys.stderr)
        sizes = {m.path: m.bytes for g in groups for m in g}
        freed = sum(sizes.get(src, 0) for src, _ in out.done)
        print(f"{'trashed' if args.trash else 'moved'} {count(len(out.done), 'photo')} ({freed / 1e6:.1f} MB) "
              f"from {count(len(res), 'group')}; {_stay(plan.refused)}"
              + ("; undo with: lookalike undo" if args.move_to else ""))
        return EXIT_OK if not out.failed else EXIT_ERROR
    finally:
        lib.close()


def cmd_undo(args):
    from lookalike.core import actions
    lib = _open(args, write=True)
    try:
        out = actions.undo_last(lib)
    except actions.ActionError as exc:
        raise Failure(str(exc)) from None
    except OSError as exc:
        raise Failure(f"cannot undo: {exc.filename or ''}: {exc.strerror or exc}") from None
    finally:
        lib.close()
    for src, dst in out.done:
        print(f"restored {dst}")
    for path, reason in out.failed:
        print(f"could not restore {path}: {reason}", file=sys.stderr)
    return EXIT_OK if not out.failed else EXIT_ERROR


def cmd_info(args):
    import platformdirs
    from lookalike.core.library import default_library_dir
    lib_dir = args.library or default_library_dir()
    print(f"lookalike {_version()}")
    print(f"library:  {lib_dir}")
    print(f"config:   {platformdirs.user_config_dir('lookalike', appauthor=False)}")
    print(f"cache:    {platformdirs.user_cache_dir('lookalike', appauthor=False)}")
    if not os.path.isfile(os.path.join(lib_dir, "catalog.sqlite")):
        bundle = _bundle(args, None)
        print(f"model:    {bundle.name} {bundle.version} ({bundle.path})")
        print("the library is empty: run `lookalike scan FOLDER`")
        return EXIT_OK
    lib = _open(args)
    try:
        bundle = _bundle(args, lib)
        print(f"model:    {bundle.name} {bundle.version} ({bundle.path}), id {bundle.model_id[:12]}, "
              f"thresholds duplicate {bundle.thresholds['duplicate']:g} / similar {bundle.thresholds['similar']:g}")
        size = sum(f.stat().st_size for f in lib.dir.iterdir() if f.is_file())
        print(f"folders:  {', '.join(lib.catalog.roots()) or '(none)'}")
        print(f"photos:   {count(lib.catalog.count_files(), 'file')}, {count(len(lib.problems()), 'problem')}, "
              f"library files {size / 1e6:.1f} MB")
        last = lib.catalog.last_scan()
        if last:
            print(f"last scan: {time.strftime('%Y-%m-%d %H:%M', time.localtime(last['finished']))}, "
                  f"{last['found']} photos, {last['embedded']} read")
    finally:
        lib.close()
    return EXIT_OK


def cmd_gui(args):
    try:
        from lookalike.app.main import main as gui_main
    except ImportError as exc:
        raise Failure(f"the desktop app is not available ({exc}); reinstall Lookalike "
                      f"(pip install . in its source folder)") from None
    argv = []
    if args.library:
        argv += ["--library", args.library]
    if args.model:
        argv += ["--model", args.model]
    if args.verbose:
        argv += ["-v"]
    return gui_main(argv)


COMMANDS = {"scan": cmd_scan, "groups": cmd_groups, "compare": cmd_compare, "similar": cmd_similar,
            "problems": cmd_problems, "train": cmd_train, "dedupe": cmd_dedupe, "undo": cmd_undo,
            "info": cmd_info, "gui": cmd_gui}


def main(argv=None) -> int:
    started = _STARTED if argv is None else time.monotonic()
    parser = build_parser()
    args = parser.parse_args(argv)
    args.started = started
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")   # file names that are not UTF-8
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    from lookalike.core.bundle import BundleError
    from lookalike.core.library import LibraryError
    try:
        return COMMANDS[args.command](args)
    except Failure as exc:
        print(f"lookalike: {exc}", file=sys.stderr)
        return exc.code
    except (BundleError, LibraryError) as exc:
        print(f"lookalike: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("lookalike: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
