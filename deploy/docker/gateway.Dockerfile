# syntax=docker/dockerfile:1.7
# Picture Optimizer — gateway image.
# HTTP API on 8080 (/healthz, /readyz, /metrics on the same port).
#
# The multi-stage build lives in base.Dockerfile (builder with the toolchain ->
# slim runtime with only /opt/venv); this image adds nothing but the process
# definition, so all service images share the base layers.
# Build from the repository root, after the base image:
#   docker build -f deploy/docker/base.Dockerfile -t picopt-base .
#   docker build -f deploy/docker/gateway.Dockerfile -t picopt/gateway .
# (Compose passes the base through `additional_contexts: picopt-base: service:base`;
#  a registry build passes --build-arg BASE_IMAGE=<registry>/picopt-base:<tag>.)
ARG BASE_IMAGE=picopt-base
# checkov:skip=CKV_DOCKER_7: the base is this repository's own image, named by the build (compose context or --build-arg)
FROM ${BASE_IMAGE} AS gateway
LABEL org.opencontainers.image.title="picture-optimizer-gateway"
ENV GATEWAY_PORT=8080
EXPOSE 8080
USER 10001:10001
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["picopt-healthcheck", "http", "--port-env", "GATEWAY_PORT", "--port", "8080", "--path", "/healthz"]
CMD ["python", "-m", "services.gateway"]
