#!/bin/busybox sh
# /init of a Janus Linux personality's initramfs. A template: xtask
# (xtask/src/linux.rs) replaces @PERSONALITY@ with the personality's name and
# @MODULES@ with the kernel modules to load, dependencies first.
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
hostname @PERSONALITY@

# A module the kernel has built in (or has already loaded) fails to insmod:
# say so and go on.
for module in @MODULES@; do
    insmod "/lib/modules/$module.ko" 2>/dev/null || echo "init: $module not loaded (built in or already loaded?)"
done

# Only emergencies from the kernel on the console from here on, so nothing
# splits the ready line or the prompt; `dmesg` in the shell shows the rest.
dmesg -n 1
# Stamp the ready point in the kernel log (microsecond timestamps from the
# kernel's own start; under QEMU -icount that is virtual time, which
# cargo xtask bench reads from the second line).
echo janus-ready-stamp > /dev/kmsg
stamp=$(dmesg | sed -n 's/^\[ *\([0-9.]*\)\] janus-ready-stamp$/\1/p' | tail -n 1)
echo "@PERSONALITY@: ready"
echo "@PERSONALITY@: ready after $stamp s"

export HOME=/root
export PS1='@PERSONALITY@# '
cd /root
exec setsid cttyhack sh
