# syntax=docker/dockerfile:1.7
# Picture Optimizer — vision image.
# gRPC on 50054, metrics on 9090; consumes vision.job.optimized.
#
# Only the vision extra of pyproject.toml is installed (constraints.txt pins every version);
# the two stages come from base.Dockerfile. Build from the repository root:
#   docker build -f deploy/docker/base.Dockerfile --target builder -t picopt-builder .
#   docker build -f deploy/docker/base.Dockerfile --target runtime -t picopt-runtime .
#   docker build -f deploy/docker/vision.Dockerfile -t picopt/vision .
# (Compose passes both through `additional_contexts`; a registry build passes
#  --build-arg BUILDER_IMAGE=... --build-arg RUNTIME_IMAGE=....)

ARG BUILDER_IMAGE=picopt-builder
ARG RUNTIME_IMAGE=picopt-runtime
# checkov:skip=CKV_DOCKER_7: both bases are this repository's own stages, named by the build (compose context or --build-arg)
FROM ${BUILDER_IMAGE} AS builder
RUN pip install --no-cache-dir --constraint constraints.txt '.[vision]' \
 && python -m compileall -q /opt/venv/lib \
 && python -P -c "import services.vision.__main__"

FROM ${RUNTIME_IMAGE} AS vision
COPY --from=builder /opt/venv /opt/venv
LABEL org.opencontainers.image.title="picture-optimizer-vision"
ENV VISION_GRPC_PORT=50054
EXPOSE 50054 9090
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["picopt-healthcheck", "grpc", "--port-env", "VISION_GRPC_PORT", "--port", "50054"]
CMD ["python", "-m", "services.vision"]
