# syntax=docker/dockerfile:1.7
# Picture Optimizer — auth image.
# gRPC on 50051, metrics on 9090.
#
# Only the auth extra of pyproject.toml is installed (constraints.txt pins every version);
# the two stages come from base.Dockerfile. Build from the repository root:
#   docker build -f deploy/docker/base.Dockerfile --target builder -t picopt-builder .
#   docker build -f deploy/docker/base.Dockerfile --target runtime -t picopt-runtime .
#   docker build -f deploy/docker/auth.Dockerfile -t picopt/auth .
# (Compose passes both through `additional_contexts`; a registry build passes
#  --build-arg BUILDER_IMAGE=... --build-arg RUNTIME_IMAGE=....)

ARG BUILDER_IMAGE=picopt-builder
ARG RUNTIME_IMAGE=picopt-runtime
# checkov:skip=CKV_DOCKER_7: both bases are this repository's own stages, named by the build (compose context or --build-arg)
FROM ${BUILDER_IMAGE} AS builder
RUN pip install --no-cache-dir --constraint constraints.txt '.[auth]' \
 && python -m compileall -q /opt/venv/lib \
 && python -P -c "import services.auth.__main__"

FROM ${RUNTIME_IMAGE} AS auth
COPY --from=builder /opt/venv /opt/venv
LABEL org.opencontainers.image.title="picture-optimizer-auth"
ENV AUTH_GRPC_PORT=50051
EXPOSE 50051 9090
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["picopt-healthcheck", "grpc", "--port-env", "AUTH_GRPC_PORT", "--port", "50051"]
CMD ["python", "-m", "services.auth"]
