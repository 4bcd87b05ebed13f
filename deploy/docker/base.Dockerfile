# syntax=docker/dockerfile:1.7
# The two stages every Picture Optimizer service image is made of.
#
#   builder  the toolchain, an empty virtualenv at /opt/venv and the repository's source
#            (pyproject.toml, constraints.txt, picopt/, picopt_cli/, services/); a service
#            image installs its own extra into the venv from here
#            (`pip install --constraint constraints.txt '.[gateway]'`).
#   runtime  a clean slim image: non-root user 10001, the environment, the healthcheck
#            script; a service image copies its /opt/venv onto it. No compiler, no pip
#            cache, no source tree.
#
# Both start from the same Python image, pinned by digest (python:3.11-slim-bookworm; refresh
# with `docker buildx imagetools inspect python:3.11-slim-bookworm`).
#
# Build from the repository root, before the service images:
#   docker build -f deploy/docker/base.Dockerfile --target builder -t picopt-builder .
#   docker build -f deploy/docker/base.Dockerfile --target runtime -t picopt-runtime .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

# checkov:skip=CKV_DOCKER_7: PYTHON_IMAGE above names a version tag and pins it by digest; checkov does not expand build args
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# Compilers only for dependencies that ship no wheel; never copied further.
# Unpinned on purpose: this stage is thrown away, and bookworm's point
# releases only carry fixes.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml constraints.txt ./
COPY picopt ./picopt
COPY picopt_cli ./picopt_cli
COPY services ./services

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="picture-optimizer-runtime" \
      org.opencontainers.image.source="https://example.invalid/picture-optimizer" \
      org.opencontainers.image.licenses="see repository"
# uid/gid 10001, no login shell, no home in the image (HOME is on /tmp).
RUN groupadd --system --gid 10001 picopt \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
      --shell /usr/sbin/nologin picopt \
 && mkdir -p /data/blobs /tmp/picopt \
 && chown 10001:10001 /data/blobs /tmp/picopt
COPY --chmod=0755 deploy/docker/healthcheck.py /usr/local/bin/picopt-healthcheck
# The root filesystem may be mounted read-only: no .pyc writes (they were
# compiled at build time), scratch space and local state under /tmp.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    VAR_DIR=/tmp/picopt \
    BLOB_BACKEND=fs \
    BLOB_DIR=/data/blobs \
    GRPC_HOST=0.0.0.0 \
    GATEWAY_HOST=0.0.0.0 \
    METRICS_PORT=9090
WORKDIR /tmp
VOLUME ["/data/blobs"]
# The runtime runs nothing itself; each service image declares its own check.
HEALTHCHECK NONE
USER 10001:10001
CMD ["python", "-c", "print('picture-optimizer runtime stage: run a service image instead')"]
