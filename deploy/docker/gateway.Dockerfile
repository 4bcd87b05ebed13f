# syntax=docker/dockerfile:1.7
# Picture Optimizer — gateway image.
# HTTP API on 8080 (/healthz, /readyz, /metrics on the same port).
#
# Only the gateway extra of pyproject.toml is installed (constraints.txt pins every version);
# the two stages come from base.Dockerfile. Build from the repository root:
#   docker build -f deploy/docker/base.Dockerfile --target builder -t picopt-builder .
#   docker build -f deploy/docker/base.Dockerfile --target runtime -t picopt-runtime .
#   docker build -f deploy/docker/gateway.Dockerfile -t picopt/gateway .
# (Compose passes both through `additional_contexts`; a registry build passes
#  --build-arg BUILDER_IMAGE=... --build-arg RUNTIME_IMAGE=....)

ARG BUILDER_IMAGE=picopt-builder
ARG RUNTIME_IMAGE=picopt-runtime
# checkov:skip=CKV_DOCKER_7: both bases are this repository's own stages, named by the build (compose context or --build-arg)
FROM ${BUILDER_IMAGE} AS builder
RUN pip install --no-cache-dir --constraint constraints.txt '.[gateway]' \
 && python -m compileall -q /opt/venv/lib \
 && python -P -c "import services.gateway.app"

FROM ${RUNTIME_IMAGE} AS gateway
COPY --from=builder /opt/venv /opt/venv
LABEL org.opencontainers.image.title="picture-optimizer-gateway"
ENV GATEWAY_PORT=8080
EXPOSE 8080
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["picopt-healthcheck", "http", "--port-env", "GATEWAY_PORT", "--port", "8080", "--path", "/healthz"]
CMD ["python", "-m", "services.gateway"]
