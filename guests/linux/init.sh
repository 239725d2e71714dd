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

export HOME=/root
export PS1='@PERSONALITY@# '
cd /root
exec setsid cttyhack sh
