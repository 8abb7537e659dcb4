#!/bin/busybox sh
# /init of the BlueZ guest (see bluez_guest.sh): load the modules, mount the host's / read-only
# with writable tmpfs where a running system writes, start the system bus and bluetoothd, run
# /tmp/out/command.sh in the host's root, leave its exit status in /tmp/out/status, power off.
/bin/busybox --install -s /bin
export PATH=/bin
say() { echo "[guest] $*"; }
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for module in $(cat /modules/order); do
    insmod "/modules/$module" 2>/dev/null || say "insmod $module failed"
done
R=/host
P9="trans=virtio,version=9p2000.L,msize=524288,cache=loose"
mount -t 9p -o "$P9,ro" hostroot $R || { say "cannot mount the host root"; poweroff -f; }
mount -t proc proc $R/proc
mount -t sysfs sys $R/sys
mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
for dir in run tmp var/lib/bluetooth dev/shm; do
    mount -t tmpfs tmpfs "$R/$dir"
done
mkdir -p $R/tmp/out $R/tmp/home $R/run/dbus
mount -t 9p -o "trans=virtio,version=9p2000.L,msize=524288" out $R/tmp/out
OUT=$R/tmp/out
say "kernel $(uname -r) up at $(cut -d' ' -f1 /proc/uptime) s"
chroot $R /usr/bin/dbus-daemon --system --fork --nopidfile
chroot $R /usr/libexec/bluetooth/bluetoothd -n >$OUT/bluetoothd.log 2>&1 &
i=0
while [ ! -S $R/run/dbus/system_bus_socket ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
cut -d' ' -f1 /proc/uptime >$OUT/boot_s
say "dbus and bluetoothd started at $(cat $OUT/boot_s) s"
chroot $R /usr/bin/env -i HOME=/tmp/home TERM=dumb LANG=C.UTF-8 VAGUS_BLUEZ_GUEST=1 \
    /bin/sh /tmp/out/command.sh >$OUT/output.log 2>&1
status=$?
say "command exited with $status at $(cut -d' ' -f1 /proc/uptime) s"
echo $status >$OUT/status
sync
umount $OUT 2>/dev/null
poweroff -f
