# syntax=docker/dockerfile:1.7
# Picture Optimizer — billing image.
# gRPC on 50052, metrics on 9090.
#
# Only the billing extra of pyproject.toml is installed (constraints.txt pins every version);
# the two stages come from base.Dockerfile. Build from the repository root:
#   docker build -f deploy/docker/base.Dockerfile --target builder -t picopt-builder .
#   docker build -f deploy/docker/base.Dockerfile --target runtime -t picopt-runtime .
#   docker build -f deploy/docker/billing.Dockerfile -t picopt/billing .
# (Compose passes both through `additional_contexts`; a registry build passes
#  --build-arg BUILDER_IMAGE=... --build-arg RUNTIME_IMAGE=....)

ARG BUILDER_IMAGE=picopt-builder
ARG RUNTIME_IMAGE=picopt-runtime
# checkov:skip=CKV_DOCKER_7: both bases are this repository's own stages, named by the build (compose context or --build-arg)
FROM ${BUILDER_IMAGE} AS builder
RUN pip install --no-cache-dir --constraint constraints.txt '.[billing]' \
 && python -m compileall -q /opt/venv/lib \
 && python -P -c "import services.billing.__main__"

FROM ${RUNTIME_IMAGE} AS billing
COPY --from=builder /opt/venv /opt/venv
LABEL org.opencontainers.image.title="picture-optimizer-billing"
ENV BILLING_GRPC_PORT=50052
EXPOSE 50052 9090
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["picopt-healthcheck", "grpc", "--port-env", "BILLING_GRPC_PORT", "--port", "50052"]
CMD ["python", "-m", "services.billing"]
