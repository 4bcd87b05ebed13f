"""mTLS between kernel servers and channels, with certificates generated here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from picopt.devstack import free_port
from picopt.kernel.grpc_client import make_channel
from picopt.kernel.grpc_server import GrpcServer
from picopt.kernel.grpc_tls import TlsFiles
from picopt.kernel.settings import Env, SettingsError
from picopt.kernel.tests.certs import Pair, TestCA


@pytest.fixture
def ca(tmp_path: Path) -> TestCA:
    return TestCA(tmp_path / "pki")


@pytest.fixture
def server(ca: TestCA) -> Iterator[GrpcServer]:
    tls = TlsFiles.from_env(Env(ca.env(ca.issue("auth"))))
    assert tls is not None
    server = GrpcServer("auth", "127.0.0.1", 0, credentials=tls.server_credentials())
    server.start()
    yield server
    server.stop(0)


def check(channel: grpc.Channel) -> str:
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def refusal(channel: grpc.Channel) -> grpc.StatusCode:
    """The status a health check on `channel` fails with (the test fails if it succeeds)."""
    with pytest.raises(grpc.RpcError) as refused:
        check(channel)
    return refused.value.code()  # type: ignore[no-any-return]


def test_client_with_ca_signed_certificate_is_served(ca: TestCA, server: GrpcServer) -> None:
    tls = TlsFiles.from_env(Env(ca.env(ca.issue("gateway"))))
    assert tls is not None
    with make_channel(f"127.0.0.1:{server.port}", credentials=tls.channel_credentials()) as ch:
        assert check(ch) == "SERVING"


def test_client_without_certificate_is_refused(ca: TestCA, server: GrpcServer) -> None:
    only_ca = grpc.ssl_channel_credentials(root_certificates=ca.ca_path.read_bytes())
    with make_channel(f"127.0.0.1:{server.port}", credentials=only_ca) as ch:
        assert refusal(ch) == grpc.StatusCode.UNAVAILABLE


def test_plaintext_client_is_refused(server: GrpcServer) -> None:
    with make_channel(f"127.0.0.1:{server.port}") as ch:
        assert refusal(ch) == grpc.StatusCode.UNAVAILABLE


def test_certificate_from_another_ca_is_refused(
    ca: TestCA, server: GrpcServer, tmp_path: Path
) -> None:
    rogue = TestCA(tmp_path / "rogue", name="rogue CA")
    pair = rogue.issue("gateway")
    creds = grpc.ssl_channel_credentials(
        root_certificates=ca.ca_path.read_bytes(),
        private_key=pair.key.read_bytes(),
        certificate_chain=pair.cert.read_bytes(),
    )
    with make_channel(f"127.0.0.1:{server.port}", credentials=creds) as ch:
        assert refusal(ch) == grpc.StatusCode.UNAVAILABLE


def test_server_name_override_checks_the_certificate_name(ca: TestCA, tmp_path: Path) -> None:
    """Addressed by a name the certificate lacks, the client still verifies the right one."""
    tls = TlsFiles.from_env(Env(ca.env(ca.issue("billing"))))
    assert tls is not None
    server = GrpcServer("billing", "127.0.0.1", 0, credentials=tls.server_credentials())
    server.start()
    try:
        client = TlsFiles.from_env(Env(ca.env(ca.issue("gateway"))))
        assert client is not None
        address = f"127.0.0.1:{server.port}"
        creds = client.channel_credentials()
        with make_channel(address, credentials=creds, server_name="billing") as ch:
            assert check(ch) == "SERVING"
        with make_channel(address, credentials=creds, server_name="vision") as ch:
            assert refusal(ch) == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop(0)


def test_plaintext_health_port_serves_only_health(ca: TestCA) -> None:
    """For probes that cannot present a certificate: health in plaintext, nothing else."""
    tls = TlsFiles.from_env(Env(ca.env(ca.issue("vision"))))
    assert tls is not None
    server = GrpcServer(
        "vision", "127.0.0.1", 0, credentials=tls.server_credentials(), health_port=free_port()
    )
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.health_port}") as ch:
            assert check(ch) == "SERVING"
            analyze = ch.unary_unary("/picopt.vision.v1.VisionService/Analyze")
            with pytest.raises(grpc.RpcError) as missing:
                analyze(b"", timeout=3)
            assert missing.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        server.stop(0)


def test_partial_tls_settings_fail_at_start(ca: TestCA) -> None:
    pair = ca.issue("auth")
    with pytest.raises(SettingsError, match="GRPC_TLS_CA"):
        TlsFiles.from_env(Env({"GRPC_TLS_CERT": str(pair.cert), "GRPC_TLS_KEY": str(pair.key)}))
    with pytest.raises(SettingsError, match="cannot read"):
        TlsFiles.from_env(Env({**ca.env(pair), "GRPC_TLS_KEY": str(ca.directory / "nope.key")}))
    assert TlsFiles.from_env(Env({})) is None


def install(directory: Path, ca: TestCA, pair: Pair) -> tuple[Path, Path, Path]:
    """Put a certificate, its key and the CA where a process reads them, each file replaced
    by a rename (as the kubelet swaps a renewed Secret's files)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = (directory / "tls.crt", directory / "tls.key", directory / "ca.crt")
    for path, source in zip(paths, (pair.cert, pair.key, ca.ca_path), strict=True):
        fresh = path.with_suffix(".new")
        fresh.write_bytes(source.read_bytes())
        fresh.replace(path)
    return paths


def test_certificates_renewed_under_a_running_server_and_client_are_used(tmp_path: Path) -> None:
    """Issue 13 item 8: rotated without restart. Both sides move to a new CA; an old
    certificate is refused afterwards, so the old material really is gone."""
    old, new = TestCA(tmp_path / "old", "old CA"), TestCA(tmp_path / "new", "new CA")
    server_files = TlsFiles(*install(tmp_path / "srv", old, old.issue("auth")), check_interval_s=0)
    server = GrpcServer("auth", "127.0.0.1", 0, credentials=server_files.server_credentials())
    server.start()
    address = f"127.0.0.1:{server.port}"
    stale_gateway = old.issue("gateway")
    client_files = TlsFiles(*install(tmp_path / "cli", old, stale_gateway), check_interval_s=0)
    try:
        with make_channel(address, tls=client_files) as channel:
            assert check(channel) == "SERVING"
            install(tmp_path / "srv", new, new.issue("auth"))
            install(tmp_path / "cli", new, new.issue("gateway"))
            assert check(channel) == "SERVING"  # the same channel object, new certificates
            assert (server_files.version, client_files.version) == (1, 1)
        stale = grpc.ssl_channel_credentials(
            root_certificates=old.ca_path.read_bytes(),
            private_key=stale_gateway.key.read_bytes(),
            certificate_chain=stale_gateway.cert.read_bytes(),
        )
        with make_channel(address, credentials=stale) as channel:
            assert refusal(channel) == grpc.StatusCode.UNAVAILABLE
    finally:
        server.stop(0)


def test_a_renewal_caught_halfway_keeps_the_working_certificate(tmp_path: Path) -> None:
    ca = TestCA(tmp_path / "pki")
    files = TlsFiles(*install(tmp_path / "srv", ca, ca.issue("auth")), check_interval_s=0)
    before = files.current()
    other = ca.issue("billing")
    (tmp_path / "srv" / "tls.crt").write_bytes(other.cert.read_bytes())  # key not yet swapped
    assert files.current() == before and files.version == 0
    (tmp_path / "srv" / "tls.key").write_bytes(other.key.read_bytes())
    assert files.current().cert == other.cert.read_bytes() and files.version == 1
