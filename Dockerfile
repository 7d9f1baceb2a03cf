# syntax=docker/dockerfile:1
# fabricscope container image: `docker compose up` (compose.yml), `make image`, or
#   docker build -t fabricscope . && docker run -p 6343:6343/udp -p 8008:8008 fabricscope
#   podman build --format docker -t fabricscope .    (Docker format: podman keeps HEALTHCHECK)
# Builds with Docker >= 25 (BuildKit) and with podman/buildah >= 1.28. PYTHON_IMAGE may be any
# Debian-based image with Python >= 3.11 as `python` and its venv module, e.g. the one
# docker/debian-base.sh makes with debootstrap where the official image cannot be pulled.
# Behind a TLS-intercepting proxy give pip the proxy's CA as a build secret (never a layer):
#   docker build --secret id=cacert,src=/etc/ssl/certs/ca-certificates.crt -t fabricscope .
# Without a topology at /etc/fabricscope/topology.json the container runs the demo fabric;
# mount your topology there to collect from real switches (docs/getting-started.md).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: compile the Cython fast path and install the package into a virtualenv ---------
FROM ${PYTHON_IMAGE} AS builder

# gcc and the C library headers for the two compiled modules, and the Python headers where the
# base image has none (the official image has them; Debian's python3 does not: python3-dev).
# Versions come from the pinned Debian release of the base image.
# hadolint ignore=DL3008
RUN set -- gcc libc6-dev \
    && include="$(python -c 'import sysconfig; print(sysconfig.get_path("include"))')" \
    && { [ -f "$include/Python.h" ] || set -- "$@" python3-dev; } \
    && apt-get update \
    && apt-get install -y --no-install-recommends "$@" \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Only what `pip install .` reads: the build metadata and the packages (see .dockerignore).
COPY pyproject.toml setup.py README.md ./
COPY decoders/ decoders/
COPY collector/ collector/
COPY topology/ topology/
COPY simulator/ simulator/
COPY web/ web/

# The same install as `make venv`, without the dev extras. setup.py falls back to plain Python
# when compiling fails; the import check below makes such a build fail here instead. It runs
# from / : in /src the source tree would shadow the installed package (and has no C modules).
# The optional secret `cacert` is a CA bundle for pip (a TLS-intercepting proxy); it is mounted
# for this step only and is in no layer.
# hadolint ignore=DL3003
RUN --mount=type=secret,id=cacert \
    if [ -s /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert; fi \
    && python -m venv /opt/fabricscope \
    && /opt/fabricscope/bin/pip install --disable-pip-version-check --no-cache-dir /src \
    && cd / \
    && /opt/fabricscope/bin/python -c "import decoders._fastpath_c, collector.receive._accounting_c, collector.receive._socket_ring"

# --- runtime: the slim base, the virtualenv, an unprivileged user -----------------------------
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="fabricscope" \
      org.opencontainers.image.description="sFlow v5 collector for AI/ML GPU fabrics" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin fabricscope \
    && mkdir -p /etc/fabricscope

COPY --from=builder /opt/fabricscope /opt/fabricscope
COPY docker/entrypoint.sh /usr/local/bin/fabricscope-entrypoint
COPY docker/healthcheck.py /usr/local/lib/fabricscope/healthcheck.py

ENV PATH=/opt/fabricscope/bin:$PATH \
    PYTHONUNBUFFERED=1

USER 10001:10001
EXPOSE 6343/udp 8008

# No curl in the slim image: the check is a few lines of stdlib urllib against /healthz.
# Every 10 s, so that compose's `condition: service_healthy` starts Telegraf within ~10 s of the
# collector (no --start-interval: a Docker >= 25 flag that buildah refuses).
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/usr/local/lib/fabricscope/healthcheck.py"]

ENTRYPOINT ["/usr/local/bin/fabricscope-entrypoint"]
