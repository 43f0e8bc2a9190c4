"""A test S3 server: moto 5.2.1 (in the machine image's Python) with authentication on.

    python3 tests/s3/moto_s3.py [--host 127.0.0.1] [--port 0] [--bucket NAME]...

Prints "READY <port> <access key id> <secret>" on stdout once it serves, then runs until
SIGTERM/SIGINT. Requests must be signed (SigV4) with the fixed test keys below: a wrong key or
signature is refused as AWS does (403). Each --bucket is created at start (path-style:
http://host:port/<bucket>/<key>).

This is the piece the compose test needs today (the nodes reach it through the Docker bridge,
standing in for MinIO). What moto still gets wrong against AWS (the query canonicalisation, the
content-sha256 and clock-skew checks, conditional PUTs without a lock:
shared/reference/s3-testing.md, "What a launcher around moto must fix") comes with the snapshot
issue, which is the first to write to S3.
"""

import argparse
import json
import signal
import sys
import threading
import urllib.request

ACCESS_KEY = "AKIASTETTEST00000000"
SECRET_KEY = "stet-test-secret-key-0000000000000000000"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bucket", action="append", default=[])
    args = ap.parse_args()

    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    port = server._server.server_port  # the bound port when --port 0
    base = f"http://127.0.0.1:{port}" if args.host in ("0.0.0.0", "") else f"http://{args.host}:{port}"

    def moto_api(path, body, content_type="application/json"):
        req = urllib.request.Request(base + path, data=body.encode(), method="POST",
                                     headers={"Content-Type": content_type})
        return urllib.request.urlopen(req, timeout=10).read()

    # the test user with fixed keys and every S3 right, created while auth is still off
    import boto3  # moto depends on it

    def client(service, **kw):
        return boto3.client(service, endpoint_url=base, region_name="us-east-1",
                            aws_access_key_id=kw.get("key", "setup"),
                            aws_secret_access_key=kw.get("secret", "setup"))

    iam = client("iam")
    iam.create_user(UserName="stet-test")
    iam.put_user_policy(UserName="stet-test", PolicyName="s3", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    # moto generates access keys; the fixed test keys replace them in its backend
    from moto.iam.models import iam_backends
    from moto.core import DEFAULT_ACCOUNT_ID
    backend = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
    key = backend.create_access_key("stet-test")
    user = backend.get_user("stet-test")
    for k in user.access_keys:
        if k.access_key_id == key.access_key_id:
            k.access_key_id = ACCESS_KEY
            k.secret_access_key = SECRET_KEY
    s3 = client("s3", key=ACCESS_KEY, secret=SECRET_KEY)
    for b in args.bucket:
        s3.create_bucket(Bucket=b)
    # authentication on from now on (0 unauthenticated requests left)
    moto_api("/moto-api/reset-auth", "0", "text/plain")

    print(f"READY {port} {ACCESS_KEY} {SECRET_KEY}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop()


if __name__ == "__main__":
    sys.exit(main())
