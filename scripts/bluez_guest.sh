#!/usr/bin/env bash
# bluez_guest.sh: a small QEMU guest (software emulation) running a real Linux Bluetooth stack,
# so bleak's default BlueZ backend can be tested over D-Bus without a radio. The guest is
# Debian's kernel with the virtual HCI driver (hci_vhci) and a busybox initramfs; it mounts the
# host's / read-only over 9p, chroots into it, starts dbus-daemon --system and bluetoothd, and
# runs one command. A bumble Controller opened on /dev/vhci by that command becomes hci0, the
# adapter BlueZ drives. See docs/pi.md, "Real BlueZ in a QEMU guest".
#
#   scripts/bluez_guest.sh build               fetch the kernel, build the initramfs (cached)
#   scripts/bluez_guest.sh run -- CMD [ARG..]  boot, run CMD in the guest (cwd = the current
#                                               directory), power off; exit with CMD's status
#
# Environment:
#   VAGUS_BLUEZ_GUEST_CACHE  default ${XDG_CACHE_HOME:-$HOME/.cache}/vagus/bluez-guest
#   VAGUS_BLUEZ_TIMEOUT      seconds for the whole boot + run (default 600); QEMU is then killed
#   VAGUS_BLUEZ_OUT          host directory shared writable with the guest (default: a temp dir,
#                            removed at exit); the guest sees it as /tmp/out
#   VAGUS_BLUEZ_MEM          guest memory in MiB (default 1024)
#   VAGUS_BLUEZ_ACCEL        QEMU accelerator (default tcg)
#
# Needs root (apt-get for missing host tools). The guest's console goes to $OUT/console.log;
# lines it prints with the prefix "[guest]" are copied to stderr. QEMU is killed on every exit.
set -euo pipefail

CACHE=${VAGUS_BLUEZ_GUEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vagus/bluez-guest}
TIMEOUT=${VAGUS_BLUEZ_TIMEOUT:-600}
MEM=${VAGUS_BLUEZ_MEM:-1024}
# Modules the guest loads (their dependencies are resolved with depmod at build time).
MODULES=(virtio_pci 9pnet_virtio 9p virtio-rng hci_vhci ecdh_generic cmac)
BUILD_VERSION=2  # bump when the initramfs layout or guest init changes

log() { printf '[bluez-guest] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

host_tools() {
    local packages=()
    command -v qemu-system-x86_64 >/dev/null || packages+=(qemu-system-x86)
    [[ -x /bin/busybox ]] && file_is_static /bin/busybox || packages+=(busybox-static)
    [[ -x /usr/libexec/bluetooth/bluetoothd ]] || packages+=(bluez)
    command -v dbus-daemon >/dev/null || packages+=(dbus)
    command -v depmod >/dev/null || packages+=(kmod)
    command -v cpio >/dev/null || packages+=(cpio)
    if ((${#packages[@]})); then
        log "installing ${packages[*]} on the host"
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${packages[@]}" >&2
    fi
}

# busybox-static replaces the dynamic busybox; a dynamic one cannot run in the initramfs.
file_is_static() { ! LC_ALL=C ldd "$1" >/dev/null 2>&1; }

kernel_package() {
    apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}

build() {
    host_tools
    local stamp=$CACHE/.built-v$BUILD_VERSION
    [[ -f $stamp && -f $CACHE/vmlinuz && -f $CACHE/initramfs.cpio.gz ]] && return 0
    mkdir -p "$CACHE"
    local package work release
    package=$(kernel_package)
    if [[ -z $package ]]; then
        apt-get update -qq >&2
        package=$(kernel_package)
    fi
    [[ -n $package ]] || die "apt knows no linux-image package for linux-image-amd64"
    rm -rf "$CACHE"/build.*  # left by an interrupted build
    work=$(mktemp -d "$CACHE/build.XXXXXX")
        local deb=("$CACHE/$package"_*.deb)
    if [[ ! -f ${deb[0]} ]]; then
        (cd "$CACHE" && apt-get download -qq "$package" 2>/dev/null) || {
            apt-get update -qq >&2
            (cd "$CACHE" && apt-get download -qq "$package")
        }
        deb=("$CACHE/$package"_*.deb)
    fi
    dpkg-deb -x "${deb[0]}" "$work/kernel"
    release=$(basename "$(find "$work/kernel/lib/modules" -mindepth 1 -maxdepth 1 -type d)")
    depmod -b "$work/kernel" "$release"
    local init=$work/initramfs
    mkdir -p "$init"/{bin,dev,proc,sys,host,modules}
    cp /bin/busybox "$init/bin/busybox"
    local module path order=()
    for module in "${MODULES[@]}"; do
        while read -r _ path _; do
            [[ " ${order[*]} " == *" $path "* ]] || order+=("$path")
        done < <(modprobe -d "$work/kernel" -S "$release" --show-depends "$module" | grep '^insmod')
    done
    : >"$init/modules/order"
    for path in "${order[@]}"; do
        cp "$path" "$init/modules/"
        echo "$(basename "$path")" >>"$init/modules/order"
    done
    echo "$release" >"$init/release"
    install -m 0755 "$(dirname "${BASH_SOURCE[0]}")/bluez_guest_init.sh" "$init/init"
    (cd "$init" && find . | cpio -o -H newc --quiet | gzip -1) >"$CACHE/initramfs.cpio.gz"
    cp "$work/kernel/boot/vmlinuz-$release" "$CACHE/vmlinuz"
    echo "$release" >"$CACHE/release"
    rm -rf "$work"
    rm -f "$CACHE"/.built-v*
    touch "$stamp"
    log "built: kernel $release, ${#order[@]} modules, in $CACHE"
}

run() {
    [[ ${1:-} == -- ]] && shift
    (($#)) || die "usage: $0 run -- CMD [ARG..]"
    build
    local out=${VAGUS_BLUEZ_OUT:-} own_out=0
    if [[ -z $out ]]; then
        out=$(mktemp -d)
        own_out=1
    fi
    mkdir -p "$out"
    rm -f "$out/status" "$out/console.log" "$out/output.log" "$out/boot_s"
    # The command, quoted, for the guest's /bin/sh; cwd and PATH as here.
    {
        printf 'cd %q\n' "$PWD"
        printf 'export PATH=%q\n' "$PATH"
        printf '%q ' "$@"
        printf '\n'
    } >"$out/command.sh"
    local qemu_pid=
    cleanup() {
        if [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null; then
            kill "$qemu_pid" 2>/dev/null || true
            sleep 1
            kill -9 "$qemu_pid" 2>/dev/null || true
        fi
        ((own_out)) && rm -rf "$out"
        return 0
    }
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    # Software emulation: here /dev/kvm opens but a KVM guest never gets to its first line.
    local accel=${VAGUS_BLUEZ_ACCEL:-tcg}
    : >"$out/console.log"
    : >"$out/output.log"
    qemu-system-x86_64 \
        -machine q35,accel="$accel" -cpu max -smp 2 -m "$MEM" \
        -kernel "$CACHE/vmlinuz" -initrd "$CACHE/initramfs.cpio.gz" \
        -append "console=ttyS0 quiet loglevel=3 panic=-1" \
        -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
        -virtfs local,path="$out",mount_tag=out,security_model=none \
        -device virtio-rng-pci \
        -display none -serial file:"$out/console.log" -monitor none -no-reboot \
        -nic none &
    qemu_pid=$!
    # Ends by itself with QEMU.
    tail --pid="$qemu_pid" -n +1 -f "$out/console.log" 2>/dev/null |
        sed -un 's/\r$//; /^\[guest\]/p' >&2 &
    # The command's own output, live.
    tail --pid="$qemu_pid" -n +1 -F "$out/output.log" 2>/dev/null &
    local waited=0
    while kill -0 "$qemu_pid" 2>/dev/null; do
        if ((waited >= TIMEOUT * 10)); then
            log "timed out after ${TIMEOUT}s; killing QEMU"
            tail -n 40 "$out/console.log" >&2
            exit 124
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    wait "$qemu_pid" || true
    qemu_pid=
    wait  # the tails: they print what is left and end with QEMU (the caller's last line is ours)
    if [[ ! -f $out/status ]]; then
        log "the guest ended without a status; its console:"
        tail -n 60 "$out/console.log" >&2
        exit 125
    fi
    exit "$(cat "$out/status")"
}

case ${1:-} in
    build) build ;;
    run) shift; run "$@" ;;
    *) die "usage: $0 build | run -- CMD [ARG..]" ;;
esac
