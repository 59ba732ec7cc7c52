#!/bin/sh
# PID 1 of the test guest, after the initramfs switched into the host's root (read-only):
# finish the mounts, let the kernel load modules from the extracted package, run the
# guest's pytest (tests/guest/runner.py) and power off. Its output is the guest console.
root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp TMPDIR=/tmp LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
# No /lib/modules on the host: the kernel's module loader asks our helper, which points
# modprobe at the extracted package. The kinds' modules are loaded up front in one
# process (each process costs ~0.15 s under TCG); anything else loads on demand.
echo "$root/tests/guest/modprobe" > /proc/sys/kernel/modprobe
modprobe -d "$root/.cache/guest/kernel" -a 8021q bonding team team_mode_roundrobin \
  team_mode_activebackup team_mode_loadbalance ipvlan ipvtap macsec vcan vxcan can_raw \
  dummy sch_netem sch_tbf sch_htb veth bridge vxlan macvlan macvtap tun \
  || echo "guest: some modules did not load"
ip link set lo up
echo "guest: up after $(cut -d' ' -f1 /proc/uptime) s"
cd "$root" && .venv/bin/python -m tests.guest.runner /run/guest
echo "guest: done after $(cut -d' ' -f1 /proc/uptime) s"
sync
# reboot(2) at once (busybox-static is installed with qemu); sysrq if it is missing.
/bin/busybox poweroff -f 2>/dev/null || echo o > /proc/sysrq-trigger
