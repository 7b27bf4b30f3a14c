"""Coverage-guided fuzzing of the request path with atheris (libFuzzer); prints one JSON object.

Each input is ``[content-type selector][accept selector][body bytes]``. The body goes through ``input_fn``
(content types in several casings, plus wrong ones); whatever it accepts then goes through ``predict_fn`` and
``output_fn``, so odd-but-valid values reach the featurizer and the shield too. A *crash* is any exception other
than an ``InferenceError`` with a 4xx status (a 5xx, a bare exception, a hang past ``-timeout``): libFuzzer stops
and writes the input under ``--out``. The seed corpus holds valid JSON (single, batch) and CSV requests, which
the mutator bends into everything else, helped by a dictionary of field names and edge values. Our package is
instrumented for coverage; json, csv and numpy are not.

    python -m scripts.fuzz_input --seconds 300      # the figure in docs/results.md: inputs tried, crashes
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from training import cli  # noqa: E402

CONTENT_TYPES = (
    "application/json",
    "text/csv",
    "Application/JSON; charset=utf-8",
    "TEXT/CSV",
    "text/plain",
    "",
    "application/x-www-form-urlencoded",
    "application/json;text/csv",
)
ACCEPTS = (
    None,
    "*/*",
    "application/json",
    "text/csv",
    "text/csv;q=0.5, application/json",
    "image/png",
    "text/*",
    ";q=",
)


def seeds() -> list[bytes]:
    from inference import contract

    good = {
        "timestamp": "2024-05-06T12:00:00Z",
        "load_rpm": [900, 950.5, 1000, 1e3],
        "failed_rpm": 0,
        "active_machines": 4,
        "pending_machines": 1,
        "capacity_rpm_per_machine": 300,
        "min_machines": 1,
        "max_machines": 20,
    }
    edge = {**good, "load_rpm": [0], "active_machines": 0, "pending_machines": 0, "failed_rpm": 3.5}
    out = [
        b"\x00\x00" + json.dumps(good).encode(),
        b"\x00\x01" + json.dumps({"instances": [good, edge]}).encode(),
        b"\x02\x03" + json.dumps({**good, "min_machines": None, "timestamp": "2024-05-06T12:00:00+05:30"}).encode(),
        b"\x01\x00" + b"2024-05-06T12:00:00Z,900;950;1000,0,4,0,300,1,20\n2024-05-06T12:00:00Z,5000,12.5,10,2,300\n",
        b"\x03\x03" + (",".join(contract.CSV_COLUMNS) + "\n2024-05-06T12:00,1;2;3,0,1,1,0.5,,\n").encode(),
    ]
    return out


def dictionary() -> str:
    """libFuzzer tokens: field names and the values that sit on validation edges."""
    from inference import contract

    tokens = [*contract.FIELDS, "instances", "NaN", "Infinity", "-Infinity", "1e400", "-0", "1e12", "1e-3"]
    tokens += ["true", "null", "[]", "{}", '""', ";", ",", "Z", "+05:30", "T23:59:59", "2024-02-29", "\\u0000"]
    return "".join(f"kw{i}={json.dumps(t)}\n" for i, t in enumerate(tokens))


def child(corpus: Path, counts_file: Path, libfuzzer_args: list[str]) -> None:
    import atheris

    with atheris.instrument_imports(include=["inference"]):
        from inference import handler
        from inference.errors import InferenceError
        from inference.handler import Model, load_model

    with tempfile.TemporaryDirectory() as tmp:
        from inference import artifact

        tarball = artifact.package_policy(artifact.random_policy(0), tmp, metadata=artifact.untrained_metadata())
        model: Model = load_model(str(tarball))

    counts = {"inputs": 0, "decided": 0, "refused_4xx": 0}

    def one_input(data: bytes) -> None:
        counts["inputs"] += 1
        if counts["inputs"] % 20_000 == 0:  # libFuzzer ends the process without running Python's atexit
            counts_file.write_text(json.dumps(counts))
        if len(data) < 2:
            return
        content_type = CONTENT_TYPES[data[0] % len(CONTENT_TYPES)]
        accept = ACCEPTS[data[1] % len(ACCEPTS)]
        try:
            parsed = handler.input_fn(data[2:], content_type)
            prediction = handler.predict_fn(parsed, model)
            handler.output_fn(prediction, accept)
            counts["decided"] += 1
        except InferenceError as err:
            counts["refused_4xx"] += 1
            if err.status_code >= 500:
                raise
        except Exception as err:
            raise AssertionError(f"not a 4xx InferenceError: {type(err).__name__}: {err}") from err

    atheris.Setup([sys.argv[0], *libfuzzer_args, str(corpus)], one_input)
    atheris.Fuzz()


@dataclass(frozen=True)
class Args:
    seconds: int = 300
    """Fuzzing time in seconds."""
    out: Path | None = None
    """Where crash inputs go (default: a temporary directory)."""
    max_len: int = 4096
    """Largest input in bytes."""
    child: Path | None = field(default=None, metadata=cli.HIDDEN)
    """The fuzzing child's corpus (the parent starts the child with it)."""
    counts: Path | None = field(default=None, metadata=cli.HIDDEN)
    """Where the child writes its sampled counts."""


def main(argv: list[str] | None = None) -> None:
    args, rest = cli.parse_known(Args, argv, prog="python -m scripts.fuzz_input", description=__doc__.split("\n")[0])
    if args.child:
        child(args.child, args.counts, rest)
        return
    try:
        import atheris  # noqa: F401
    except ImportError:
        sys.exit("atheris is not installed: pip install atheris==3.0.0 (see requirements-dev.txt)")

    work = Path(tempfile.mkdtemp(prefix="fuzz-input-"))
    corpus = work / "corpus"
    corpus.mkdir()
    for i, seed in enumerate(seeds()):
        (corpus / f"seed{i}").write_bytes(seed)
    (work / "tokens.dict").write_text(dictionary())
    crashes = args.out or work / "crashes"
    crashes.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "scripts.fuzz_input",
        "--child",
        str(corpus),
        "--counts",
        str(work / "counts.json"),
        f"-max_total_time={args.seconds}",
        f"-max_len={args.max_len}",
        "-timeout=10",
        "-rss_limit_mb=4096",
        "-print_final_stats=1",
        f"-dict={work / 'tokens.dict'}",
        f"-artifact_prefix={crashes}/",
    ]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    log = proc.stdout + proc.stderr
    (work / "fuzz.log").write_text(log)
    executed = re.search(r"stat::number_of_executed_units:\s*(\d+)", log)
    per_s = re.search(r"stat::average_exec_per_sec:\s*(\d+)", log)
    cov = re.findall(r"cov: (\d+) ft: (\d+)", log)
    crash_files = sorted(p.name for p in crashes.iterdir())
    counts = json.loads((work / "counts.json").read_text()) if (work / "counts.json").exists() else {}
    report = {
        "fuzzer": "atheris 3.0.0 (libFuzzer), coverage-instrumented inference package",
        "target": "input_fn, then predict_fn and output_fn on what input_fn accepts",
        "command": f"python -m scripts.fuzz_input --seconds {args.seconds}",
        "seconds": args.seconds,
        "inputs_tried": int(executed.group(1)) if executed else None,
        "inputs_per_s": int(per_s.group(1)) if per_s else None,
        "coverage_edges": int(cov[-1][0]) if cov else None,
        "sampled_counts": counts,
        "corpus_files": len(list(corpus.iterdir())),
        "crashes": len(crash_files),
        "crash_inputs": [str(crashes / n) for n in crash_files],
        "exit_code": proc.returncode,
        "log": str(work / "fuzz.log"),
    }
    if proc.returncode != 0 and not crash_files:
        report["log_tail"] = log[-3000:]
    print(json.dumps(report, indent=2))
    if report["crashes"] or proc.returncode != 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
