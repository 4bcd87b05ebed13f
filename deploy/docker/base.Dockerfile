# syntax=docker/dockerfile:1.7
# Shared base image for every Picture Optimizer service.
#
# Stage "builder" has the toolchain and builds the repository's package
# (`picture-optimizer`, `pip install .`) into a virtualenv at /opt/venv.
# Stage "runtime" copies only that virtualenv onto a clean slim image: no
# compiler, no pip cache, no source tree, non-root user 10001.
# The per-service images (deploy/docker/<service>.Dockerfile) start FROM this
# image, so the package and its dependencies are built once for all six.
#
# Build from the repository root:
#   docker build -f deploy/docker/base.Dockerfile -t picopt-base .
FROM python:3.11-slim-bookworm AS builder
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
# Dependencies change less often than code: resolve them from pyproject first.
COPY pyproject.toml ./
RUN python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
      > /tmp/requirements.txt \
 && pip install --requirement /tmp/requirements.txt
COPY picopt ./picopt
COPY services ./services
RUN pip install --no-deps . \
 && python -m compileall -q /opt/venv/lib \
 && python -P -c "import picopt, services"

FROM python:3.11-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="picture-optimizer-base" \
      org.opencontainers.image.source="https://example.invalid/picture-optimizer" \
      org.opencontainers.image.licenses="see repository"
# uid/gid 10001, no login shell, no home in the image (HOME is on /tmp).
RUN groupadd --system --gid 10001 picopt \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
      --shell /usr/sbin/nologin picopt \
 && mkdir -p /data/blobs /tmp/picopt \
 && chown 10001:10001 /data/blobs /tmp/picopt
COPY --from=builder /opt/venv /opt/venv
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
# The base runs nothing itself; each service image declares its own check.
HEALTHCHECK NONE
USER 10001:10001
CMD ["python", "-c", "print('picture-optimizer base image: run a service image instead')"]
