# syntax=docker/dockerfile:1.7
# Picture Optimizer — vision image.
# gRPC on 50054, metrics on 9090; consumes vision.job.optimized.
#
# The multi-stage build lives in base.Dockerfile (builder with the toolchain ->
# slim runtime with only /opt/venv); this image adds nothing but the process
# definition, so all service images share the base layers.
# Build from the repository root, after the base image:
#   docker build -f deploy/docker/base.Dockerfile -t picopt-base .
#   docker build -f deploy/docker/vision.Dockerfile -t picopt/vision .
# (Compose passes the base through `additional_contexts: picopt-base: service:base`;
#  a registry build passes --build-arg BASE_IMAGE=<registry>/picopt-base:<tag>.)
ARG BASE_IMAGE=picopt-base
# checkov:skip=CKV_DOCKER_7: the base is this repository's own image, named by the build (compose context or --build-arg)
FROM ${BASE_IMAGE} AS vision
LABEL org.opencontainers.image.title="picture-optimizer-vision"
ENV VISION_GRPC_PORT=50054
EXPOSE 50054 9090
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["picopt-healthcheck", "grpc", "--port-env", "VISION_GRPC_PORT", "--port", "50054"]
CMD ["python", "-m", "services.vision"]
