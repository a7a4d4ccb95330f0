"""`python -m explorer`: list, train, reproduce and bench from the command line.

Errors a user can make (an unknown task, architecture or parameter, a bad value) exit with status 2 and one
line naming the valid choices, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter is not for our users


class UsageError(Exception):
    """Bad command-line input: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would print the whole usage; one line is friendlier
        raise UsageError(message)


def _clean(value: Any) -> Any:
    """JSON has no NaN: write it as null so every line parses."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _print_json(data: dict[str, Any]) -> None:
    print(json.dumps(_clean(data), sort_keys=True))


def _config_from(args) -> Any:
    from explorer.presets import coerce, default_config

    overrides = {}
    for item in args.set or []:
        if "=" not in item:
            raise UsageError(f"--set expects NAME=VALUE, got {item!r}")
        name, text = item.split("=", 1)
        try:
            overrides[name.strip()] = coerce(name.strip(), text.strip())
        except ValueError as error:
            raise UsageError(str(error)) from None
    try:
        return default_config(args.task, args.arch, **overrides)
    except ValueError as error:
        raise UsageError(str(error)) from None


def command_list(args) -> None:
    from explorer.architectures import ARCHITECTURES
    from explorer.config import field_names
    from explorer.presets import pairs
    from explorer.tasks import TASKS

    data = {
        "tasks": {
            n: {
                "kind": t.kind,
                "values": t.values,
                "description": t.description,
                "defaults": t.defaults,
                "length_rule": str(t.length_rule),
                "default_arch": t.default_arch,
                "published": {arch: vars(figure) for arch, figure in t.published.items()},
            }
            for n, t in TASKS.items()
        },
        "architectures": {
            n: {
                "pattern": str(a.pattern),
                "values": a.values,
                "description": a.description,
                "default_task": a.default_task,
                "attention": a.attention,
                "scores": list(a.scores),
            }
            for n, a in ARCHITECTURES.items()
        },
        "parameters": field_names(),
        "pairs": [list(p) for p in pairs()],
    }
    if args.json:
        _print_json(data)
        return
    print("Tasks:")
    for name, info in data["tasks"].items():
        print(f"  {name:<14} {info['kind']:<22} {info['description']}")
    print("Architectures:")
    for name, info in data["architectures"].items():
        print(f"  {name:<17} {info['pattern']:<10} {info['description']}")
    print("Parameters (--set NAME=VALUE; qualify as task.seed / train.seed where a name is shared):")
    for section, names in data["parameters"].items():
        print(f"  {section}: {', '.join(n for n in names if n not in ('name', 'arch'))}")


def command_train(args) -> None:
    # Validate before importing the model framework: a typo is answered at once, not after TensorFlow loads.
    config = _config_from(args)

    from explorer.backend import backend_name, device_name
    from explorer.training import train

    def show(progress) -> None:
        if not args.json and progress.sequence_accuracy is not None:
            print(
                f"epoch {progress.epoch}/{progress.epochs}  loss {progress.loss:.4f}  "
                f"sequence accuracy {progress.sequence_accuracy:.1%}  ({progress.elapsed:.1f} s)",
                flush=True,
            )

    result = train(config, progress=show)
    if args.save:
        from explorer.storage import save_bundle

        save_bundle(result.bundle, args.save, {"history": result.history, "metrics": result.metrics})
    summary = {
        "task": config.task.name,
        "arch": config.model.arch,
        "key": config.key(),
        "status": result.status,
        "reason": result.reason,
        "sequence_accuracy": result.metrics["sequence_accuracy"],
        "token_accuracy": result.metrics["token_accuracy"],
        "eval_examples": result.metrics["eval_examples"],
        "epochs_run": len(result.history),
        "train_seconds": result.train_seconds,
        "samples_seen": result.samples_seen,
        "backend": backend_name(),
        "device": device_name(),
        "config": config.to_dict(),
    }
    if args.json:
        _print_json(summary)
    else:
        print(f"{result.status}: {result.reason or ''}".rstrip(": "))
        print(
            f"sequence accuracy {summary['sequence_accuracy']:.1%} on {summary['eval_examples']} fresh examples, "
            f"token accuracy {summary['token_accuracy']:.1%}, {summary['train_seconds']:.1f} s, key {summary['key']}"
        )


def command_reproduce(args) -> None:
    from explorer.backend import backend_name, device_name
    from explorer.experiments import reproduce

    def show(item) -> None:
        if not args.json:
            print(
                f"{item.name}\n    published: {item.published}\n    ours:      {item.ours}  ({item.seconds:.1f} s)",
                flush=True,
            )

    if args.save and args.quick:
        raise UsageError("--save stores the full comparison the Train page shows; run it without --quick")
    results = reproduce(quick=args.quick, report=show)
    if args.save:
        import datetime

        from explorer.reproductions import save_reproductions

        measured = f"{datetime.date.today().isoformat()}, {backend_name()} on {device_name()}"
        stored = [r.details["stored"] for r in results if "stored" in r.details]
        path = save_reproductions(stored, measured)
        if not args.json:
            print(f"saved {len(stored)} comparisons to {path}")
    if args.json:
        _print_json(
            {
                "backend": backend_name(),
                "device": device_name(),
                "quick": args.quick,
                "experiments": [vars(r) for r in results],
                "total_seconds": sum(r.seconds for r in results),
            }
        )


def command_bench(args) -> None:
    from explorer.bench import run_bench

    data = run_bench(quick=args.quick)
    if args.json:
        _print_json(data)
        return
    decode, trained = data["decode"], data["train"]
    print(f"backend {data['backend']} on {data['device']}")
    print(f"cold start, server process to the landing page drawn: {data['cold_start_s']:.2f} s median")
    print(
        f"per-step predict loop: {decode['loop_ms_per_sequence']:.1f} ms/sequence; batched compiled decode: "
        f"{decode['batched_ms_per_sequence'] * 1e3:.2f} us/sequence; speed-up {decode['speedup_per_sequence']:,.0f}x"
    )
    print(f"one sequence decoded and probed: {decode['single_decode_and_probe_ms_median']:.2f} ms median")
    print(f"reversal to 99% exact-sequence accuracy: {trained['seconds_to_99_median']:.2f} s median")
    reset = data["rerun_reset"]
    print(
        f"training beside Streamlit's per-run reset ({reset['task']}): {reset['quiet_seconds']:.2f} s quiet; "
        f"clear_session {reset['clear_session_slowdown']:.2f}x, gc.collect(2) {reset['gc_collect_slowdown']:.2f}x, "
        f"both {reset['clear_session_and_gc_slowdown']:.2f}x slower"
    )
    pages = data["pages"]
    print(
        "page switch, server script time (ms, warm): "
        + ", ".join(f"{name} {ms:.0f}" for name, ms in pages["served_ms"].items())
        + f"; all pages {pages['served_total_ms']:.0f} ms, {pages['validation_slowdown']:.2f}x that with every "
        "chart schema-validated"
    )


def command_pretrain(args) -> None:
    from explorer.analysis import length_rows
    from explorer.cache import PRETRAINED_DIR
    from explorer.presets import pretrain_configs, replay_configs
    from explorer.storage import add_to_sidecar, load_bundle, paths_for, save_bundle, snapshot_files
    from explorer.trainers import LocalBackend, sidecar_metadata
    from explorer.training import train

    directory = Path(args.output) if args.output else PRETRAINED_DIR
    configs = pretrain_configs()
    wanted = {c.key() for c in configs}
    # The models the lessons and the replay pages open first also ship their training-replay snapshots.
    replayed = {c.key() for c in replay_configs()}
    if args.only_replay:
        configs = [c for c in configs if c.key() in replayed]
    if args.analysis_only:
        for index, config in enumerate(configs, 1):
            bundle, _ = load_bundle(directory, config.key())
            add_to_sidecar(directory, config.key(), {"length_accuracy": length_rows(bundle)})
            print(f"[{index}/{len(configs)}] {config.task.name} x {config.model.arch}: length accuracy", flush=True)
        return
    for index, config in enumerate(configs, 1):
        weights, sidecar = paths_for(directory, config.key())
        if args.missing_only and weights.exists() and sidecar.exists():
            continue
        result = train(config, snapshots=config.key() in replayed)
        save_bundle(
            result.bundle,
            directory,
            {
                **sidecar_metadata(result, LocalBackend.trained_by()),
                "length_accuracy": length_rows(result.bundle),
            },
            result.snapshots,
        )
        replay = f", {len(result.snapshots)} replay snapshots" if result.snapshots else ""
        print(
            f"[{index}/{len(configs)}] {config.task.name} x {config.model.arch} {config.key()}: {result.status}, "
            f"{result.metrics['sequence_accuracy']:.1%} in {result.train_seconds:.1f} s{replay}",
            flush=True,
        )
    # Files from configs that are no longer shipped would only confuse `cache verify`.
    for stale in directory.glob("*.json"):
        if stale.stem not in wanted:
            for path in [*paths_for(directory, stale.stem), *snapshot_files(directory, stale.stem)]:
                path.unlink(missing_ok=True)
    total = sum(p.stat().st_size for p in directory.glob("*.*"))
    print(f"pretrained/: {len(wanted)} models, {total / 1e6:.1f} MB")


def command_cache(args) -> None:
    from explorer.cache import ModelStore

    store = ModelStore()
    if args.action == "list":
        rows = store.entries()
        if args.json:
            _print_json({"entries": rows})
            return
        for row in rows:
            accuracy = row.get("sequence_accuracy")
            text = f"{accuracy:.1%}" if isinstance(accuracy, float) and math.isfinite(accuracy) else "-"
            status = "ok" if row["ok"] else f"BROKEN: {row.get('error')}"
            print(
                f"{row['source']:<10} {row['key']} {row.get('task', '?'):<13} {row.get('arch', '?'):<17} "
                f"{text:>7}  {status}"
            )
        print(f"{len(rows)} models (pretrained: {store.pretrained_dir}, cache: {store.cache_dir})")
    elif args.action == "clear":
        print(f"removed {store.clear()} files from {store.cache_dir}")
    else:
        from explorer.verify import verify_store

        report = verify_store(store)
        if args.json:
            _print_json(report)
        else:
            for row in report["models"]:
                print(f"{'ok  ' if row['ok'] else 'FAIL'} {row['source']:<10} {row['key']} {row.get('detail', '')}")
            print(f"{report['passed']} passed, {report['failed']} failed")
        if report["failed"]:
            raise SystemExit(1)


def command_lessons(args) -> None:
    from explorer.lessons import catalogue

    lessons = catalogue()
    if args.json:
        print(json.dumps(_clean(lessons), sort_keys=True))
        return
    for lesson in lessons:
        print(f"{lesson['id']}: {lesson['title']}")
        for step in lesson["steps"]:
            print(f"  {step['index']}. {step['title']:<34} {step['url'][:90]}")
    print(f"{len(lessons)} lessons, {sum(len(lesson['steps']) for lesson in lessons)} steps")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m explorer", description="Seq2Seq Explorer library commands")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    listing = commands.add_parser("list", help="tasks, architectures and their parameters")
    listing.add_argument("--json", action="store_true")
    training = commands.add_parser("train", help="train and evaluate one configuration")
    training.add_argument("--task")
    training.add_argument("--arch")
    training.add_argument("--set", action="append", metavar="NAME=VALUE", help="override a parameter (repeatable)")
    training.add_argument("--json", action="store_true", help="last line of output is one JSON object")
    training.add_argument("--save", metavar="DIR", help="also save the trained model to DIR")
    reproducing = commands.add_parser("reproduce", help="the tutorials' experiments beside their published numbers")
    reproducing.add_argument("--quick", action="store_true", help="fewer repeats")
    reproducing.add_argument("--json", action="store_true")
    reproducing.add_argument(
        "--save", action="store_true", help="store the measured comparisons for the Train page (not with --quick)"
    )
    benching = commands.add_parser("bench", help="decode, training and page speed")
    benching.add_argument("--quick", action="store_true")
    benching.add_argument("--json", action="store_true")
    pretraining = commands.add_parser("pretrain", help="rebuild pretrained/ for every default pair and variant")
    pretraining.add_argument("--output", help="folder to write (default: the repository's pretrained/)")
    pretraining.add_argument("--missing-only", action="store_true", help="keep models already there")
    pretraining.add_argument(
        "--only-replay",
        action="store_true",
        help="retrain only the models that ship training-replay snapshots (presets.REPLAY_SHIPPED)",
    )
    pretraining.add_argument(
        "--analysis-only",
        action="store_true",
        help="train nothing: recompute the analyses stored beside each shipped model (accuracy by input length)",
    )
    teaching = commands.add_parser("lessons", help="the guided lessons, their steps and each step's link")
    teaching.add_argument("--json", action="store_true", help="last line of output is one JSON list of lessons")
    caching = commands.add_parser("cache", help="list, verify or clear stored models")
    caching.add_argument("action", choices=["list", "verify", "clear"])
    caching.add_argument("--json", action="store_true")
    return parser


COMMANDS = {
    "list": command_list,
    "train": command_train,
    "reproduce": command_reproduce,
    "bench": command_bench,
    "pretrain": command_pretrain,
    "cache": command_cache,
    "lessons": command_lessons,
}


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        COMMANDS[args.command](args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
