"""The capacity curve: one load-test scenario at several class sizes, each on a freshly started server.

    .venv/bin/python scripts/capacity.py --scenario follow [--sizes 10,30,60,100,150] [--out docs/capacity]

Runs `scripts/loadtest.py --scenario S --students N --json` once per size, in a fresh process each (so every
size starts from a cold server and an empty model cache), keeps each run's JSON object as one line of
`<out>/<scenario>.jsonl`, and prints a Markdown table: p50 / p95 / max latency per request, the server's CPU per
request, peak RSS, errors and training jobs, and the largest class whose p95 stayed within 1 s. Extra arguments
after `--` go to every load-test run (e.g. `-- --actions 6`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
P95_LIMIT_MS = 1000.0


def run(scenario: str, students: int, extra: list[str]) -> dict:
    command = [sys.executable, str(ROOT / "scripts" / "loadtest.py"), "--scenario", scenario]
    command += ["--students", str(students), "--json", *extra]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"scenario": scenario, "students": students, "failures": [f"no result: {done.stderr[-2000:]}"]}


def table(results: list[dict]) -> str:
    rows = [
        "| students | requests | p50 / p95 / max per request | CPU per request | peak RSS | errors | training jobs |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        rows.append(
            f"| {r.get('students')} | {r.get('requests')} | {r.get('p50_ms')} / {r.get('p95_ms')} / "
            f"{r.get('max_ms')} ms | {r.get('cpu_ms_per_request')} ms | {r.get('peak_rss_mb')} MB | "
            f"{r.get('errors')} | {r.get('training_jobs')} |"
        )
    within = [r["students"] for r in results if r.get("p95_ms") is not None and r["p95_ms"] <= P95_LIMIT_MS]
    rows.append("")
    rows.append(f"Largest class with p95 <= 1 s: {max(within) if within else 'none of these'}.")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", required=True, choices=("follow", "explore", "stress", "train"))
    parser.add_argument("--sizes", default="10,30,60,100,150", help="class sizes, comma-separated")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "capacity", help="folder for <scenario>.jsonl")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    with open(args.out / f"{args.scenario}.jsonl", "w", encoding="utf-8") as lines:
        for students in sizes:
            result = run(args.scenario, students, extra)
            results.append(result)
            lines.write(json.dumps(result, sort_keys=True) + "\n")
            lines.flush()
            print(
                f"{args.scenario} {students}: p95 {result.get('p95_ms')} ms, failures {result.get('failures')}",
                file=sys.stderr,
                flush=True,
            )
    print(table(results))
    return 1 if any(r.get("failures") for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
