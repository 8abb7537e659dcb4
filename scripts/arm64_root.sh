#!/usr/bin/env bash
# arm64_root.sh: a Debian bookworm arm64 root, run under QEMU user-mode emulation, in which the
# project's Python runs as it would on the Raspberry Pi gateway (Raspberry Pi OS bookworm ships
# the same Python 3.11). Timings inside are emulated: use them to compare code paths with each
# other (relative speed), never as Pi timings. See docs/pi.md.
#
#   scripts/arm64_root.sh build              build or complete the root (idempotent)
#   scripts/arm64_root.sh run -- CMD [ARG..]  run CMD inside, cwd = the project, mounted read-only
#   scripts/arm64_root.sh shell              an interactive shell inside
#   scripts/arm64_root.sh status             where the root is, its size, what is built
#
# Environment:
#   VAGUS_ARM64_ROOT  where the root lives (default ${XDG_CACHE_HOME:-$HOME/.cache}/vagus/arm64-root;
#                     keep it outside the work tree: it is ~650 MB)
#   VAGUS_ARM64_CPU   QEMU CPU model (default cortex-a72 = Pi 4; cortex-a76 = Pi 5)
#   VAGUS_ARM64_RW=1  mount the project read-write (default read-only)
#
# Needs root (chroot, mounts, binfmt_misc). Host tools (qemu-user-static, debootstrap,
# binfmt-support) are installed with apt-get when missing. The Debian mirror is the host's own,
# read from its apt sources at run time. Commands run with `env -i` (host PIP_* and proxy-CA
# variables would leak in otherwise), with a Pi-like /proc/cpuinfo bind-mounted and QEMU_CPU
# set: LiteRT segfaults on QEMU's default x86 cpuinfo, and QEMU's default `max` CPU offers
# instructions no Pi has. Python packages go into a venv inside (/opt/vagus-venv), pinned as in
# constraints.txt. Mounts live in a private mount namespace and vanish when the command ends.
set -euo pipefail

PROJECT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=${VAGUS_ARM64_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/vagus/arm64-root}
CPU=${VAGUS_ARM64_CPU:-cortex-a72}
SUITE=bookworm
VENV=/opt/vagus-venv
MARKER=.vagus-arm64-root     # written first: only a directory carrying it is ever wiped
STAMPS=$ROOT/var/lib/vagus-arm64
# What the gateway's Python imports (aiokafka: the stream package's errors); versions from
# constraints.txt, all with aarch64 wheels.
PACKAGES=(numpy numba llvmlite ai-edge-litert msgspec aiokafka)

log() { printf '[arm64-root] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

need_root() { [[ $(id -u) -eq 0 ]] || die "run as root (chroot, mounts and binfmt_misc need it)"; }

host_tools() {
    local missing=0
    command -v qemu-aarch64-static >/dev/null || missing=1
    command -v debootstrap >/dev/null || missing=1
    command -v update-binfmts >/dev/null || missing=1
    if ((missing)); then
        log "installing qemu-user-static debootstrap binfmt-support on the host"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static debootstrap binfmt-support
    fi
}

# The host's Debian mirror: the first URI serving $SUITE itself (not -security/-updates), from
# deb822 .sources files or the one-line sources.list format.
host_mirror() {
    local file uri
    for file in /etc/apt/sources.list.d/*.sources; do
        [[ -f $file ]] || continue
        uri=$(awk -v suite="$SUITE" '
            /^[[:space:]]*$/ { if (u != "" && s) { print u; exit } u = ""; s = 0; next }
            tolower($1) == "uris:" { u = $2 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) s = 1 }
            END { if (u != "" && s) print u }' "$file" | head -n1)
        [[ -n $uri ]] && { echo "$uri"; return; }
    done
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $file ]] || continue
        uri=$(awk -v suite="$SUITE" '$1 == "deb" {
                for (i = 2; i < NF; i++) if ($i !~ /^\[/ && $(i + 1) == suite) { print $i; exit } }' "$file")
        [[ -n $uri ]] && { echo "$uri"; return; }
    done
    die "no apt source for $SUITE on this host"
}

binfmt() {
    mountpoint -q /proc/sys/fs/binfmt_misc \
        || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    if [[ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]; then
        update-binfmts --import qemu-aarch64 2>/dev/null || true
        update-binfmts --enable qemu-aarch64
    fi
    grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
        || echo 1 >/proc/sys/fs/binfmt_misc/qemu-aarch64
}

done_step() { [[ -e $STAMPS/$1 ]]; }
mark_step() { mkdir -p "$STAMPS"; date -u +%FT%TZ >"$STAMPS/$1"; }

# A Raspberry Pi 4's cpuinfo (four Cortex-A72 cores), enough for LiteRT's and numba's CPU probes.
write_cpuinfo() {
    local i
    mkdir -p "$ROOT/etc/vagus"
    {
        for i in 0 1 2 3; do
            printf 'processor\t: %s\nBogoMIPS\t: 108.00\n' "$i"
            printf 'Features\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n'
            printf 'CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
        done
        printf 'Hardware\t: BCM2835\nRevision\t: c03111\nModel\t\t: Raspberry Pi 4 Model B Rev 1.1\n'
    } >"$ROOT/etc/vagus/cpuinfo"
}

# Run "$@" chrooted, in a private mount namespace, with a clean environment.
in_root() {
    local ro=1
    [[ ${VAGUS_ARM64_RW:-0} == 1 ]] && ro=0
    # shellcheck disable=SC2016  # the inner script expands its own variables
    unshare --mount --propagation private /usr/bin/env -i \
        ROOT="$ROOT" PROJECT="$PROJECT" RO="$ro" CPU="$CPU" TERM="${TERM:-dumb}" \
        /bin/bash -euc '
            mount -t proc proc "$ROOT/proc"
            [[ -f $ROOT/etc/vagus/cpuinfo ]] && mount --bind "$ROOT/etc/vagus/cpuinfo" "$ROOT/proc/cpuinfo"
            mount -t sysfs -o ro sysfs "$ROOT/sys"  # LiteRT reads the CPU lists there
            mount --rbind /dev "$ROOT/dev"
            mount -t tmpfs tmpfs "$ROOT/tmp"
            mkdir -p "$ROOT/vagus"
            mount --bind "$PROJECT" "$ROOT/vagus"
            [[ $RO == 1 ]] && mount -o remount,bind,ro "$ROOT/vagus"
            exec chroot "$ROOT" /usr/bin/env -i \
                PATH=/opt/vagus-venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                HOME=/root LANG=C.UTF-8 TERM="$TERM" QEMU_CPU="$CPU" \
                PYTHONPATH=/vagus PYTHONDONTWRITEBYTECODE=1 XDG_CACHE_HOME=/var/cache \
                PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
                "$@"' in_root "$@"
}

pins() {
    local pkg pin
    for pkg in "${PACKAGES[@]}"; do
        pin=$(grep -iE "^${pkg}==" "$PROJECT/constraints.txt" || true)
        echo "${pin:-$pkg}"
    done
}

build() {
    need_root
    host_tools
    binfmt
    mkdir -p "$ROOT"
    if ! done_step debootstrap-1; then
        if [[ -n $(ls -A "$ROOT") ]]; then
            [[ -e $ROOT/$MARKER ]] || die "$ROOT is not empty and not ours; refusing to wipe it"
            log "wiping an unfinished first stage in $ROOT"
            find "$ROOT" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
        fi
        touch "$ROOT/$MARKER"
        local mirror
        mirror=$(host_mirror)
        log "debootstrap first stage ($SUITE arm64, minbase) from the host's mirror"
        debootstrap --arch=arm64 --foreign --variant=minbase "$SUITE" "$ROOT" "$mirror"
        mark_step debootstrap-1
    fi
    install -m 0755 "$(command -v qemu-aarch64-static)" "$ROOT/usr/bin/qemu-aarch64-static"
    write_cpuinfo
    if ! done_step debootstrap-2; then
        log "debootstrap second stage (emulated; several minutes)"
        # Plain chroot: the second stage mounts /proc and /sys itself (inside our namespace).
        unshare --mount --propagation private /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
            QEMU_CPU="$CPU" chroot "$ROOT" /debootstrap/debootstrap --second-stage
        mark_step debootstrap-2
    fi
    cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"  # apt and pip inside resolve as the host does
    if ! done_step python; then
        log "apt-get install python3 python3-venv (emulated)"
        in_root /bin/sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends python3 python3-venv && apt-get clean'
        mark_step python
    fi
    # The host's CA bundle (with any local CAs it trusts) before pip needs it.
    mkdir -p "$ROOT/etc/ssl/certs"
    cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
    local want
    want=$(pins | tr '\n' ' ')
    if [[ ! -e $STAMPS/venv || $(cat "$STAMPS/venv") != "$want" ]]; then
        log "venv $VENV with: $want(aarch64 wheels only; emulated)"
        in_root /bin/sh -c "[ -x $VENV/bin/python ] || python3 -m venv $VENV"
        # shellcheck disable=SC2046
        # Without PYTHONPATH: pip would take the mounted project for an installed vagus and warn
        # about the dependencies this root leaves out (BLE, Kafka clients, plotting).
        in_root /usr/bin/env -u PYTHONPATH "$VENV/bin/pip" install -q --only-binary :all: $(pins)
        mkdir -p "$STAMPS"
        echo "$want" >"$STAMPS/venv"
    fi
    log "ready: $ROOT ($(du -sh --one-file-system "$ROOT" | cut -f1))"
}

ready() { [[ -e $STAMPS/venv ]] || die "no finished root at $ROOT: run '$0 build' first"; }

case ${1:-} in
    build) build ;;
    run)
        shift
        [[ ${1:-} == -- ]] && shift
        [[ $# -gt 0 ]] || die "usage: $0 run -- CMD [ARG..]"
        need_root; ready; binfmt
        # shellcheck disable=SC2016
        in_root /bin/sh -c 'cd /vagus && exec "$@"' run "$@"
        ;;
    shell) need_root; ready; binfmt; in_root /bin/bash -c 'cd /vagus && exec /bin/bash -i' ;;
    status)
        echo "root: $ROOT"
        # shellcheck disable=SC2012  # our own stamp names
        ls "$STAMPS" 2>/dev/null | sed 's/^/done: /' || echo "not built"
        if [[ -d $ROOT ]]; then du -sh --one-file-system "$ROOT" | cut -f1 | sed 's/^/size: /'; fi
        ;;
    *) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
