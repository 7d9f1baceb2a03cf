#!/bin/sh
# Entry point of the fabricscope image.
#
#   (arguments)        run `fabricscope ARGUMENTS`, e.g. `serve --workers 4` or `decode -`
#   (none)             a topology at FABRICSCOPE_TOPOLOGY or /etc/fabricscope/topology.json:
#                      `fabricscope serve` with it; otherwise `fabricscope demo`, so that a first
#                      `docker compose up` shows data before any switch is pointed at it.
#
# The other serve settings come from FABRICSCOPE_* variables (FABRICSCOPE_WORKERS, ...), which
# `serve` reads itself. `exec` keeps fabricscope as the container's main process so that
# `docker stop` (SIGTERM) reaches it.
set -eu

default_topology=/etc/fabricscope/topology.json

if [ "$#" -gt 0 ]; then
    exec fabricscope "$@"
fi

if [ -n "${FABRICSCOPE_TOPOLOGY:-}" ]; then
    # Named explicitly: a missing file is a mistake, not a reason to fall back to the demo.
    if [ ! -f "$FABRICSCOPE_TOPOLOGY" ]; then
        echo "fabricscope: error: FABRICSCOPE_TOPOLOGY=$FABRICSCOPE_TOPOLOGY: no such file" >&2
        exit 1
    fi
    exec fabricscope serve
fi

if [ -f "$default_topology" ]; then
    exec fabricscope serve --topology "$default_topology"
fi

echo "fabricscope: no topology at $default_topology, running the demo fabric" \
    "(mount your topology there to collect from real switches)" >&2
# The demo serves HTTP on the port FABRICSCOPE_HTTP_BIND names (where the health check looks).
http_bind=${FABRICSCOPE_HTTP_BIND:-0.0.0.0:8008}
exec fabricscope demo --http-host 0.0.0.0 --http-port "${http_bind##*:}"
