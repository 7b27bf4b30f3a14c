"""Publish a model artifact once, then fetch and verify exactly that artifact at each promotion step.

    python scripts/release_artifact.py publish --artifact artifacts/model/model.tar.gz --bucket RELEASE_BUCKET
    python scripts/release_artifact.py fetch --uri s3://RELEASE_BUCKET/releases/<sha256>/model.tar.gz \
        --sha256 <sha256> --out release/

`publish` takes a local model.tar.gz, or the model.tar.gz a SageMaker training job wrote (an s3:// URI; the
training entry point puts the serving artifact's files in SM_MODEL_DIR, so that tarball is the artifact), and
uploads it with its metadata.json to `s3://BUCKET/releases/<sha256>/`. It prints the `model_s3_uri` and
`model_sha256` that every stage is then deployed with. `fetch` downloads both files, refuses a tarball whose
sha256 differs, and prints the cdk context flags (`-c model_s3_uri=... -c model_sha256=... -c model_metadata=...`).
The metadata is read from inside the tarball when no metadata.json lies beside it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from stacks.artifact import file_sha256

PREFIX = "releases/"


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise SystemExit(f"not an s3://bucket/key URI: {uri!r}")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def metadata_of(tarball: Path) -> bytes:
    """metadata.json beside the tarball, else the one inside it."""
    beside = tarball.with_name("metadata.json")
    if beside.is_file():
        return beside.read_bytes()
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.lstrip("./") == "metadata.json":
                return tar.extractfile(member).read()  # type: ignore[union-attr]
    raise SystemExit(f"{tarball}: no metadata.json beside it or inside it")


def publish(args: argparse.Namespace, s3: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        if args.artifact.startswith("s3://"):
            bucket, key = split_uri(args.artifact)
            tarball = Path(tmp) / "model.tar.gz"
            s3.download_file(bucket, key, str(tarball))
        else:
            tarball = Path(args.artifact)
            if not tarball.is_file():
                raise SystemExit(f"no artifact at {tarball}")
        metadata = metadata_of(tarball)
        parsed = json.loads(metadata)
        digest = file_sha256(tarball)
        expected = getattr(args, "sha256", None)
        if expected and digest != expected:
            raise SystemExit(f"{args.artifact} has sha256 {digest}, not the registered {expected}: refusing it")
        prefix = f"{args.prefix.rstrip('/')}/{digest}/"
        s3.upload_file(str(tarball), args.bucket, f"{prefix}model.tar.gz")
        s3.put_object(Bucket=args.bucket, Key=f"{prefix}metadata.json", Body=metadata)
    return {
        "model_s3_uri": f"s3://{args.bucket}/{prefix}model.tar.gz",
        "model_sha256": digest,
        "model_version": parsed.get("model_version"),
        "gate_passed": parsed.get("gate", {}).get("passed"),
    }


def fetch(args: argparse.Namespace, s3: Any) -> dict[str, Any]:
    bucket, key = split_uri(args.uri)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tarball, metadata = out / "model.tar.gz", out / "metadata.json"
    s3.download_file(bucket, key, str(tarball))
    digest = file_sha256(tarball)
    if digest != args.sha256:
        tarball.unlink()
        raise SystemExit(f"{args.uri} has sha256 {digest}, not the promoted {args.sha256}: refusing it")
    s3.download_file(bucket, key.rsplit("/", 1)[0] + "/metadata.json", str(metadata))
    parsed = json.loads(metadata.read_text())
    context = {"model_s3_uri": args.uri, "model_sha256": digest, "model_metadata": str(metadata)}
    return {
        **context,
        "model_version": parsed.get("model_version"),
        "gate_passed": parsed.get("gate", {}).get("passed"),
        "cdk_context": " ".join(f"-c {k}={shlex.quote(v)}" for k, v in context.items()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--region", default="eu-west-1")
    parser.add_argument("--endpoint-url", default=None, help="S3 API elsewhere (tests use moto)")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("publish", help="upload an artifact under releases/<sha256>/")
    up.add_argument("--artifact", required=True, help="local model.tar.gz or s3:// URI of a training job's output")
    up.add_argument("--bucket", required=True, help="release bucket the stages may read")
    up.add_argument("--prefix", default=PREFIX)
    up.add_argument("--sha256", default=None, help="refuse the artifact unless it has this sha256")
    down = commands.add_parser("fetch", help="download and verify a published artifact")
    down.add_argument("--uri", required=True)
    down.add_argument("--sha256", required=True)
    down.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    s3 = boto3.client("s3", region_name=args.region, endpoint_url=args.endpoint_url)
    result = publish(args, s3) if args.command == "publish" else fetch(args, s3)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
