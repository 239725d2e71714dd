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

# The storage benchmark (cargo xtask bench, on a disk it made for the run):
# with janus.bench=storage on the kernel command line, measure the raw
# /dev/vda with direct I/O and power off. It overwrites the disk, so it
# runs before the disk is checked or mounted and the boot never gets there.
case " $(cat /proc/cmdline) " in
*" janus.bench=storage "*)
    dmesg -n 1
    if [ ! -b /dev/vda ]; then
        echo "@PERSONALITY@: diskbench error: no /dev/vda"
    elif ! command -v janus-diskbench >/dev/null; then
        echo "@PERSONALITY@: diskbench error: no janus-diskbench in this initramfs (cargo xtask bench builds one with it)"
    else
        janus-diskbench --label @PERSONALITY@ /dev/vda
    fi
    poweroff -f
    ;;
esac

# The personality's private disk (Janus' emulated virtio-blk) at /data:
# ext2, made only on the boot where Janus provisioned the partition (it
# says so with janus.disk=new on the command line). A disk that already
# carries an ext2 superblock (magic 0xef53 at byte 1080) is never
# reformatted, even if mounting it fails, and neither is one without a
# superblock that Janus did not provision this boot.
if [ -b /dev/vda ]; then
    mkdir -p /data
    magic=$(dd if=/dev/vda bs=1 skip=1080 count=2 2>/dev/null | od -An -tx1 | tr -d ' \n')
    if [ "$magic" != "53ef" ]; then
        case " $(cat /proc/cmdline) " in
        *" janus.disk=new "*)
            echo "init: /dev/vda is blank: making an ext2 file system (first boot)"
            mke2fs -q -L @PERSONALITY@ /dev/vda >/dev/null 2>&1 || echo "init: error: mke2fs /dev/vda failed"
            ;;
        *)
            echo "init: error: /dev/vda has no ext2 file system, and Janus did not provision it this boot: not formatting it. Fix: repair it from this shell (e2fsck /dev/vda), or re-provision its partition on the host, which destroys its data (cargo xtask reprovision <partition> --destroy-data)"
            ;;
        esac
    fi
    # After a power cut an ext2 file system needs a check: preen it (the
    # safe automatic repairs) the way a distribution's boot does.
    e2fsck -p /dev/vda >/tmp/e2fsck.log 2>&1
    status=$?
    if [ "$status" -eq 4 ]; then
        # ext2 has no journal: a cut in the middle of writeback can leave
        # what preening may not touch (an inode written before its directory
        # entry). Nobody is at a console to answer e2fsck's questions, so
        # repair it as an unattended device must; what cannot be attached
        # goes to /lost+found.
        echo "init: e2fsck -p could not preen /dev/vda after an unclean stop: repairing (e2fsck -y)"
        e2fsck -y /dev/vda >>/tmp/e2fsck.log 2>&1
        status=$?
    fi
    if [ "$status" -ge 4 ]; then
        echo "init: error: e2fsck -p /dev/vda left errors (exit $status); see /tmp/e2fsck.log"
    elif [ "$status" -ne 0 ]; then
        echo "init: e2fsck repaired /dev/vda after an unclean stop (exit $status)"
    fi
    if mount -t ext2 /dev/vda /data; then
        echo "init: /data is /dev/vda"
    else
        echo "init: error: could not mount /dev/vda on /data"
    fi
fi

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

# From here busybox init runs the personality as a distribution's init
# would: the root shell on the console (started again when it exits), the
# power-key watcher, and on `reboot`, `poweroff` or the power key an orderly
# stop (everything asked to end, /data synced and unmounted) before the
# kernel resets or powers off this personality.
cat > /etc/inittab <<'INITTAB'
::respawn:/bin/janus-shell
::respawn:/bin/janus-power-key
::shutdown:/bin/janus-shutdown
INITTAB

cat > /bin/janus-shell <<'SHELL'
#!/bin/sh
# The root shell on the console (cttyhack: the console's real tty, so job
# control and Ctrl-C work).
export HOME=/root PS1='@PERSONALITY@# '
cd /root
exec cttyhack sh
SHELL

cat > /bin/janus-power-key <<'POWERKEY'
#!/bin/sh
# Janus presses this personality's power key when the whole device stops
# (Ctrl-\ q): a GPIO line the device tree names in /gpio-keys/poweroff
# (this kernel has no gpio-keys driver, so the line is read through sysfs,
# once a second). A press means an orderly poweroff.
idle() { while :; do sleep 3600; done; }
keys=/proc/device-tree/gpio-keys/poweroff/gpios
[ -r "$keys" ] || idle
phandle=$(od -An -N4 -tx1 "$keys" | tr -d ' \n')
line=$((0x$(od -An -j4 -N4 -tx1 "$keys" | tr -d ' \n')))
base=
for chip in /sys/class/gpio/gpiochip*; do
    if [ "$(od -An -tx1 "$chip/device/of_node/phandle" 2>/dev/null | tr -d ' \n')" = "$phandle" ]; then
        base=$(cat "$chip/base")
    fi
done
if [ -z "$base" ]; then
    echo "init: warning: no GPIO controller for the power key; the device cannot ask @PERSONALITY@ to stop"
    idle
fi
gpio=$((base + line))
[ -d "/sys/class/gpio/gpio$gpio" ] || echo "$gpio" > /sys/class/gpio/export 2>/dev/null || {
    echo "init: warning: the power key's GPIO $gpio is taken; the device cannot ask @PERSONALITY@ to stop"
    idle
}
while sleep 1; do
    if [ "$(cat "/sys/class/gpio/gpio$gpio/value")" = 1 ]; then
        echo "@PERSONALITY@: power key pressed: powering off"
        poweroff
        idle
    fi
done
POWERKEY

cat > /bin/janus-shutdown <<'SHUTDOWN'
#!/bin/sh
# busybox init runs this before it resets or powers off the personality:
# every other process is asked to end (an interactive shell ignores TERM,
# HUP ends it), then /data is synced and unmounted, so the next boot finds
# it clean. A process that holds /data gets 1.5 seconds, then is killed;
# if /data still cannot be unmounted it is made read-only.
kill -TERM -1 2>/dev/null
kill -HUP -1 2>/dev/null
grep -q ' /data ' /proc/mounts || exit 0
for attempt in 1 2 3 4 5 6 7 8 9 10; do
    usleep 300000
    sync
    if umount /data 2>/dev/null; then
        echo "@PERSONALITY@: /data is clean"
        exit 0
    fi
    [ "$attempt" = 5 ] && kill -KILL -1 2>/dev/null
done
if mount -o remount,ro /data 2>/dev/null; then
    echo "@PERSONALITY@: /data is clean (read-only; something held it)"
else
    echo "@PERSONALITY@: warning: /data could not be unmounted"
fi
sync
SHUTDOWN
chmod 755 /bin/janus-shell /bin/janus-power-key /bin/janus-shutdown

exec /sbin/init
