# syntax=docker/dockerfile:1
# fabricscope container image: `docker compose up` (compose.yml) or
#   docker build -t fabricscope . && docker run -p 6343:6343/udp -p 8008:8008 fabricscope
# Without a topology at /etc/fabricscope/topology.json the container runs the demo fabric;
# mount your topology there to collect from real switches (docs/getting-started.md).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: compile the Cython fast path and install the package into a virtualenv ---------
FROM ${PYTHON_IMAGE} AS builder

# gcc and the C library headers for the two compiled modules (the Python headers are in the
# base image). Versions come from the pinned Debian release of the base image.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
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
# when compiling fails; the import check below makes such a build fail here instead.
RUN python -m venv /opt/fabricscope \
    && /opt/fabricscope/bin/pip install --no-cache-dir /src \
    && /opt/fabricscope/bin/python -c "import decoders._fastpath_c, collector.receive._accounting_c"

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
# --start-interval (Docker >= 25): probe every 2 s while starting, so compose's
# `condition: service_healthy` lets Telegraf start seconds after the collector, not 30 s.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --start-interval=2s --retries=3 \
    CMD ["python", "/usr/local/lib/fabricscope/healthcheck.py"]

ENTRYPOINT ["/usr/local/bin/fabricscope-entrypoint"]
