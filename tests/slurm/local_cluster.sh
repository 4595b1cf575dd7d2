#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for tests/test_slurm.py and .ci/run.
#   tests/slurm/local_cluster.sh start DIR   # installs slurm-wlm + munge if missing (needs root), starts daemons
#   tests/slurm/local_cluster.sh stop DIR    # stops them by their pid files
# No systemd: munged, slurmctld and slurmd run as background daemons with every path under DIR.
# Partitions: debug (default), a100 and a40, the latter two with fake GPUs (gres on /dev/null-like
# character devices) so a GPU job's --partition/--gres are scheduled for real.
set -euo pipefail
cmd=${1:?usage: local_cluster.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: local_cluster.sh start|stop DIR}")

stop() {
  for d in slurmd slurmctld munged; do
    if [[ -f "$dir/$d.pid" ]]; then kill "$(cat "$dir/$d.pid")" 2>/dev/null || true; fi
  done
  sleep 1
}

if [[ $cmd == stop ]]; then stop; exit 0; fi
[[ $cmd == start ]] || { echo "unknown command $cmd" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  if [[ $(id -u) != 0 ]]; then
    echo "slurm-wlm and munge are not installed and this is not root: cannot install them" >&2; exit 3
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq slurm-wlm munge >/dev/null
fi

mkdir -p "$dir"/{spool,state,log,munge,dev}
host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) * 3 / 4 ))

# munge: key and socket under DIR
[[ -f "$dir/munge/munge.key" ]] || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 700 "$dir/munge"; chmod 400 "$dir/munge/munge.key"
munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" --pid-file="$dir/munged.pid" \
       --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed" --force

for i in 0 1 2 3; do [[ -e "$dir/dev/gpu$i" ]] || mknod "$dir/dev/gpu$i" c 1 3; done

cat > "$dir/slurm.conf" <<CONF
ClusterName=mpbench-local
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
MinJobAge=600
ReturnToService=2
SchedulerType=sched/backfill
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:a100:2,gpu:a40:2 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=a100 Nodes=$host MaxTime=INFINITE State=UP
PartitionName=a40 Nodes=$host MaxTime=INFINITE State=UP
CONF
cat > "$dir/gres.conf" <<CONF
NodeName=$host Name=gpu Type=a100 File=$dir/dev/gpu[0-1]
NodeName=$host Name=gpu Type=a40 File=$dir/dev/gpu[2-3]
CONF
# The SLURM executor's job step drops SLURM_CONF: the config must be at the default path.
mkdir -p /etc/slurm
for f in slurm.conf gres.conf; do
  if [[ -e /etc/slurm/$f && ! -L /etc/slurm/$f ]]; then mv "/etc/slurm/$f" "/etc/slurm/$f.mpbench-backup"; fi
  ln -sfn "$dir/$f" "/etc/slurm/$f"
done

slurmctld -f "$dir/slurm.conf"
slurmd -f "$dir/slurm.conf"
for _ in $(seq 30); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then sinfo; exit 0; fi
  sleep 1
done
echo "local SLURM did not come up; logs in $dir/log" >&2
tail -20 "$dir"/log/*.log >&2
exit 1
