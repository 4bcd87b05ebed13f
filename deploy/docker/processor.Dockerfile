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
# The multi-stage build lives in base.Dockerfile (builder with the toolchain ->
# slim runtime with only /opt/venv); this image adds nothing but the process
# definition, so all service images share the base layers.
# Build from the repository root, after the base image:
#   docker build -f deploy/docker/base.Dockerfile -t picopt-base .
#   docker build -f deploy/docker/processor.Dockerfile -t picopt/processor .
# (Compose passes the base through `additional_contexts: picopt-base: service:base`;
#  a registry build passes --build-arg BASE_IMAGE=<registry>/picopt-base:<tag>.)
ARG BASE_IMAGE=picopt-base
# checkov:skip=CKV_DOCKER_7: the base is this repository's own image, named by the build (compose context or --build-arg)
FROM ${BASE_IMAGE} AS processor
LABEL org.opencontainers.image.title="picture-optimizer-processor"
ENV PROCESSOR_GRPC_PORT=50053 \
    WORKER_HEALTH_PORT=50060
EXPOSE 50053 50060 9090
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["picopt-healthcheck", "grpc", "--port-env", "PROCESSOR_GRPC_PORT", "--port", "50053"]
CMD ["python", "-m", "services.processor", "api"]
