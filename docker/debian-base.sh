#!/bin/sh
# A Debian base image with Python for the Dockerfile's PYTHON_IMAGE, made with debootstrap from
# Debian's archive: for machines that reach Debian's mirrors but not the official Python image.
#
#   docker/debian-base.sh [ENGINE]      # ENGINE: podman (default) or docker; needs root
#
# Prints the image's name on stdout (progress goes to stderr). The image is
# localhost/fabricscope-base:SUITE-MIRRORHASH-WEEK: an image of that name already in the engine's
# store is reused, so the debootstrap runs at most once a week per mirror, and the security
# updates it applies are at most a week old. Older fabricscope-base images are removed.
#
# Settings (environment):
#   DEBIAN_SUITE            bookworm (Python 3.11)
#   DEBIAN_MIRROR           the mirror this host's apt uses for the suite, else deb.debian.org
#   DEBIAN_SECURITY_MIRROR  likewise for SUITE-security
#   BASE_KEY                the cache key's date part (default: the ISO week, e.g. 2026w49)
set -eu

engine=${1:-podman}
suite=${DEBIAN_SUITE:-bookworm}

# The URI of the first apt source (deb822 .sources or one-line .list) whose suites include $1.
host_mirror() {
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        /etc/apt/sources.list.d/*.sources; do
        [ -f "$file" ] || continue
        awk -v want="$1" '
            function found(uri) { print uri; exit 0 }
            /^deb[ \t]/ {
                sub(/^deb[ \t]+(\[[^]]*\][ \t]+)?/, ""); split($0, w, /[ \t]+/)
                if (w[2] == want) found(w[1])
            }
            /^[ \t]*$/ { if (types ~ /(^| )deb( |$)/ && suites ~ ("(^| )" want "( |$)")) found(uri)
                         types = ""; uri = ""; suites = "" }
            /^Types:/ { types = $0; sub(/^Types:[ \t]*/, "", types) }
            /^URIs:/ { uri = $2 }
            /^Suites:/ { suites = $0; sub(/^Suites:[ \t]*/, "", suites) }
            END { if (types ~ /(^| )deb( |$)/ && suites ~ ("(^| )" want "( |$)")) print uri }
        ' "$file" | head -n 1 | grep . && return 0
    done
    return 1
}

mirror=${DEBIAN_MIRROR:-$(host_mirror "$suite" || echo http://deb.debian.org/debian)}
security=${DEBIAN_SECURITY_MIRROR:-$(host_mirror "$suite-security" ||
    echo http://deb.debian.org/debian-security)}
mirror=${mirror%/}
security=${security%/}
key=${BASE_KEY:-$(date -u +%Gw%V)}
hash=$(printf '%s %s' "$mirror" "$security" | sha256sum | cut -c 1-8)
repository=localhost/fabricscope-base
image=$repository:$suite-$hash-$key

if "$engine" image inspect "$image" >/dev/null 2>&1; then
    echo "debian-base: reusing $image" >&2
    echo "$image"
    exit 0
fi

command -v debootstrap >/dev/null || { echo "debian-base: needs debootstrap" >&2; exit 1; }
root=$(mktemp -d "${TMPDIR:-/tmp}/fabricscope-base.XXXXXX")
log=$(mktemp "${TMPDIR:-/tmp}/fabricscope-base.log.XXXXXX")
trap 'rm -rf "$root" "$log"' EXIT INT TERM
echo "debian-base: debootstrap $suite from $mirror (security: $security)" >&2
start=$(date +%s)

# Like Debian's slim images: no manual pages, documentation (but the copyrights) or translations.
mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
cat >"$root/etc/dpkg/dpkg.cfg.d/fabricscope-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
# Quiet unless it fails: then the end of its output.
quiet() { "$@" >"$log" 2>&1 || { tail -n 30 "$log" >&2; exit 1; }; }

quiet debootstrap --variant=minbase \
    --include=python3,python3-venv,python-is-python3,ca-certificates "$suite" "$root" "$mirror"
# The point release plus its updates and security fixes.
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security $suite-security main
EOF
apt_in_root() { quiet chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -q -y "$@"; }
apt_in_root update
apt_in_root upgrade
apt_in_root clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log \
    "$root"/tmp/* "$root"/var/tmp/* "$root"/usr/share/man/* "$root"/usr/share/info/*
# (debootstrap unpacks its first packages without dpkg, so without the excludes above)
find "$root/usr/share/doc" -type f ! -name copyright -delete
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
# debootstrap left the host's resolver configuration; the engine writes its own at run time.
: >"$root/etc/resolv.conf"

tar --numeric-owner -C "$root" -c . | "$engine" import \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$image" >/dev/null
echo "debian-base: made $image in $(($(date +%s) - start)) s" >&2

# Earlier weeks' and mirrors' bases: remove those no image or container still uses.
"$engine" images --format '{{.Repository}}:{{.Tag}}' | grep "^$repository:" | grep -vx "$image" |
    while read -r old; do "$engine" rmi "$old" >/dev/null 2>&1 || true; done
echo "$image"
