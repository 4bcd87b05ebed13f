# syntax=docker/dockerfile:1.7
# Picture Optimizer — processor image.
# One image, two processes:
#   api    (default)  gRPC on 50053, metrics on 9090
#   worker            `docker run picopt/processor python -m services.processor worker`
#                     gRPC health only on 50060, metrics on 9090
# The image HEALTHCHECK probes the api; a worker container overrides it with
#   picopt-healthcheck grpc --port-env WORKER_HEALTH_PORT --port 50060
# (deploy/compose.yaml does; Kubernetes uses its own grpc probes).
#
# Only the processor extra of pyproject.toml is installed (constraints.txt pins every version);
# the two stages come from base.Dockerfile. Build from the repository root:
#   docker build -f deploy/docker/base.Dockerfile --target builder -t picopt-builder .
#   docker build -f deploy/docker/base.Dockerfile --target runtime -t picopt-runtime .
#   docker build -f deploy/docker/processor.Dockerfile -t picopt/processor .
# (Compose passes both through `additional_contexts`; a registry build passes
#  --build-arg BUILDER_IMAGE=... --build-arg RUNTIME_IMAGE=....)

ARG BUILDER_IMAGE=picopt-builder
ARG RUNTIME_IMAGE=picopt-runtime
# checkov:skip=CKV_DOCKER_7: both bases are this repository's own stages, named by the build (compose context or --build-arg)
FROM ${BUILDER_IMAGE} AS builder
RUN pip install --no-cache-dir --constraint constraints.txt '.[processor]' \
 && python -m compileall -q /opt/venv/lib \
 && python -P -c "import services.processor.__main__"

FROM ${RUNTIME_IMAGE} AS processor
COPY --from=builder /opt/venv /opt/venv
LABEL org.opencontainers.image.title="picture-optimizer-processor"
ENV PROCESSOR_GRPC_PORT=50053 \
    WORKER_HEALTH_PORT=50060
EXPOSE 50053 50060 9090
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["picopt-healthcheck", "grpc", "--port-env", "PROCESSOR_GRPC_PORT", "--port", "50053"]
CMD ["python", "-m", "services.processor", "api"]
