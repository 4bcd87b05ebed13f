#!/usr/bin/env python3
"""Container HEALTHCHECK probe for the Picture Optimizer images.

Installed in the base image as /usr/local/bin/picopt-healthcheck so every
service image can check itself without extra binaries (no grpc_health_probe,
no curl in the final image):

    picopt-healthcheck grpc --port-env AUTH_GRPC_PORT --port 50051
    picopt-healthcheck http --port-env GATEWAY_PORT --port 8080 --path /healthz

gRPC mode calls the standard grpc.health.v1 Check; it uses TLS when
GRPC_TLS_CA is set (with GRPC_TLS_CERT/GRPC_TLS_KEY as the client pair for
mTLS, and GRPC_TLS_SERVER_NAME to match the server certificate).
Exit 0 when SERVING / HTTP 2xx, 1 otherwise (the Docker HEALTHCHECK contract).
Kubernetes does not use this: it has native grpc/httpGet probes.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request


def _port(args: argparse.Namespace) -> int:
    raw = os.environ.get(args.port_env, "") if args.port_env else ""
    return int(raw) if raw.strip() else args.port


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    with open(path, "rb") as fh:
        return fh.read()


def check_grpc(host: str, port: int, service: str, timeout: float) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    target = f"{host}:{port}"
    ca = os.environ.get("GRPC_TLS_CA", "")
    if ca:
        creds = grpc.ssl_channel_credentials(
            root_certificates=_read(ca),
            private_key=_read(os.environ.get("GRPC_TLS_KEY")),
            certificate_chain=_read(os.environ.get("GRPC_TLS_CERT")),
        )
        options = []
        server_name = os.environ.get("GRPC_TLS_SERVER_NAME", "")
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        channel = grpc.secure_channel(target, creds, options=options)
    else:
        channel = grpc.insecure_channel(target)
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    except grpc.RpcError as err:
        print(f"unhealthy: {target} {err.code().name}", file=sys.stderr)
        return False
    finally:
        channel.close()
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        name = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        print(f"unhealthy: {target} {name}", file=sys.stderr)
        return False
    return True


def check_http(host: str, port: int, path: str, timeout: float) -> bool:
    url = f"http://{host}:{port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            ok = 200 <= resp.status < 300
    except (urllib.error.URLError, OSError) as err:
        print(f"unhealthy: {url} {err}", file=sys.stderr)
        return False
    if not ok:
        print(f"unhealthy: {url} HTTP {resp.status}", file=sys.stderr)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="picopt-healthcheck")
    parser.add_argument("mode", choices=("grpc", "http"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="default port")
    parser.add_argument("--port-env", default="", help="env var that overrides --port")
    parser.add_argument("--service", default="", help="gRPC health service name ('' = server)")
    parser.add_argument("--path", default="/healthz")
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    port = _port(args)
    if args.mode == "grpc":
        ok = check_grpc(args.host, port, args.service, args.timeout)
    else:
        ok = check_http(args.host, port, args.path, args.timeout)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
