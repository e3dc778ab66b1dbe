#!/bin/busybox sh
# The guest's /init: mounts what dynoprobe reads, runs every cgroup v2 scenario in turn, and
# powers off. Each scenario prints between `@@begin NAME@@` and `@@end NAME@@`, in sections
# `@@section NAME@@`: the JSON dynoprobe printed, and the cgroup's own cpu.stat around it.
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# tracefs: dynoprobe counts the guest's interrupts per gap through its tracepoints.
mount -t tracefs nodev /sys/kernel/tracing
echo +cpu > /sys/fs/cgroup/cgroup.subtree_control
CG=/sys/fs/cgroup

section() { echo "@@section $1@@"; }

# in_cgroup DIR COMMAND...: COMMAND in cgroup DIR (PID 1 cannot move, so a shell moves itself
# there, then becomes COMMAND).
in_cgroup() {
    dir=$1
    shift
    sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$dir" "$@"
}

# Every process of a quota'd cgroup runs on CPU 0 only (`taskset 1`): cpu.stat sums the
# throttled time of the cgroup's run queue on every CPU, so a thread of dynoprobe's waking on
# the other CPU while the quota is spent would add its own throttle to the spinning thread's.

# spin NAME DIR LIMIT DURATION: `dynoprobe jitter` on CPU 0 in cgroup DIR, with the cpu.stat
# of LIMIT (the cgroup holding the quota) before and after.
spin() {
    echo "@@begin $1@@"
    section cpu.stat.before
    cat "$3/cpu.stat"
    section json
    in_cgroup "$2" taskset 1 dynoprobe jitter --duration "$4" --cpus 0 --json
    section cpu.stat.after
    cat "$3/cpu.stat"
    echo "@@end $1@@"
}

echo "@@guest up@@"
echo "clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"

mkdir $CG/q30 && echo "30000 100000" > $CG/q30/cpu.max
spin quota-30-100 $CG/q30 $CG/q30 3s

mkdir $CG/q50 && echo "50000 200000" > $CG/q50/cpu.max
spin quota-50-200 $CG/q50 $CG/q50 3s

# The quota on the parent, the process in a child (a pod and its container).
mkdir -p $CG/a/b && echo +cpu > $CG/a/cgroup.subtree_control
echo "30000 100000" > $CG/a/cpu.max
spin nested $CG/a/b $CG/a 2s
# The files of that layout as this kernel writes them, with a sibling holding a tighter quota
# of its own: tests/data/cgroup-v2-nested/ is this recording.
mkdir $CG/a/c && echo "20000 100000" > $CG/a/c/cpu.max
echo "@@begin nested-files@@"
for f in cgroup.controllers cpu.stat a/cpu.max a/cpu.stat a/b/cpu.max a/b/cpu.stat \
    a/b/cpu.pressure a/c/cpu.max a/c/cpu.stat; do
    section "$f"
    cat "$CG/$f"
done
echo "@@end nested-files@@"

mkdir $CG/m && echo "max 100000" > $CG/m/cpu.max
spin no-quota $CG/m $CG/m 1s

# The container case: a cgroup namespace rooted at the process's own cgroup, with cgroup2
# mounted afresh inside it, so /proc/self/cgroup says 0::/.
mkdir $CG/ns && echo "30000 100000" > $CG/ns/cpu.max
echo "@@begin namespace@@"
section cpu.stat.before
cat $CG/ns/cpu.stat
in_cgroup $CG/ns taskset 1 /usr/bin/unshare -C -m sh -c '
    umount /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup || exit 1
    echo "@@section proc-self-cgroup@@"
    cat /proc/self/cgroup
    echo "@@section json@@"
    exec dynoprobe jitter --duration 2s --cpus 0 --json'
section cpu.stat.after
cat $CG/ns/cpu.stat
echo "@@end namespace@@"

# `signals` inside a quota that a busy loop keeps using up, both on CPU 0 (with tasks on two
# CPUs, cpu.stat's throttled time can exceed the wall time).
in_cgroup $CG/q30 taskset 1 sh -c 'while :; do :; done' &
busy=$!
sleep 1
echo "@@begin signals@@"
section uptime.before
cat /proc/uptime
section cpu.stat.before
cat $CG/q30/cpu.stat
section json
in_cgroup $CG/q30 taskset 1 dynoprobe signals --interval 1s --count 3 --json
section cpu.stat.after
cat $CG/q30/cpu.stat
section uptime.after
cat /proc/uptime
echo "@@end signals@@"
kill $busy

echo "@@guest done@@"
poweroff -f
