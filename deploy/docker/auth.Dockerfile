# syntax=docker/dockerfile:1.7
# Picture Optimizer — auth image.
# gRPC on 50051, metrics on 9090.
#
# The multi-stage build lives in base.Dockerfile (builder with the toolchain ->
# slim runtime with only /opt/venv); this image adds nothing but the process
# definition, so all service images share the base layers.
# Build from the repository root, after the base image:
#   docker build -f deploy/docker/base.Dockerfile -t picopt-base .
#   docker build -f deploy/docker/auth.Dockerfile -t picopt/auth .
# (Compose passes the base through `additional_contexts: picopt-base: service:base`;
#  a registry build passes --build-arg BASE_IMAGE=<registry>/picopt-base:<tag>.)
ARG BASE_IMAGE=picopt-base
# checkov:skip=CKV_DOCKER_7: the base is this repository's own image, named by the build (compose context or --build-arg)
FROM ${BASE_IMAGE} AS auth
LABEL org.opencontainers.image.title="picture-optimizer-auth"
ENV AUTH_GRPC_PORT=50051
EXPOSE 50051 9090
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["picopt-healthcheck", "grpc", "--port-env", "AUTH_GRPC_PORT", "--port", "50051"]
CMD ["python", "-m", "services.auth"]
