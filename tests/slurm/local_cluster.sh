#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for tests/test_slurm.py and .ci/run.
#   tests/slurm/local_cluster.sh prepare        # installs slurm-wlm + munge if missing (needs root);
#                                               # undoes what earlier versions of this script left in /etc/slurm
#   tests/slurm/local_cluster.sh start DIR      # prepare, then start the daemons with every path under DIR
#   tests/slurm/local_cluster.sh stop DIR       # stops them by their pid files and waits until they are gone
# No systemd: munged, slurmctld and slurmd run as background daemons with every path under DIR.
# Partitions: debug (default), a100 and a40, the latter two with fake GPUs (gres on /dev/null-like
# character devices) so a GPU job's --partition/--gres are scheduled for real. a100 and a40 are
# GPU-only, as on NHR@FAU's TinyGPU: a job_submit.lua refuses every job there that requests no GPU.
#
# Nothing outside DIR is written (no /etc/slurm): clients find the config through SLURM_CONF.
# The SLURM executor's job step drops every SLURM_* variable (SLURM_CONF included) before its inner
# `srun`, so DIR/bin holds an `srun` that sets SLURM_CONF again and runs the real one. To use the
# cluster, put the lines of DIR/env into the environment (`set -a; . DIR/env; set +a`):
#   SLURM_CONF=DIR/slurm.conf   PATH=DIR/bin:$PATH   (sbatch --export=ALL carries both into the jobs)
set -euo pipefail
cmd=${1:?usage: local_cluster.sh prepare | start DIR | stop DIR}
etc=/etc/slurm

# Earlier versions of this script linked /etc/slurm/{slurm.conf,gres.conf} to DIR (moving a real file
# aside to NAME.mpbench-backup) and left the links when the cluster stopped; every SLURM client on
# the machine (the snakemake SLURM plugin runs `scontrol show config` when it loads) then waited
# ~10 s for the dead controller. Undo that: remove such links when their target is gone or belongs
# to a local cluster that no longer runs, and put the backed-up files back.
undo_etc_leftovers() {
  [[ -d $etc ]] || return 0
  local f target tdir pid changed=0
  for f in slurm.conf gres.conf; do
    if [[ -L $etc/$f ]]; then
      target=$(readlink "$etc/$f"); tdir=$(dirname "$target")
      if [[ ! -e $target ]]; then
        :                                         # dangling: its cluster's folder is gone
      elif grep -qs '^ClusterName=mpbench-local$' "$tdir/slurm.conf"; then
        pid=$(cat "$tdir/slurmctld.pid" 2>/dev/null || true)
        if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
          echo "note: $etc/$f points to a local cluster that still runs ($tdir); left as it is" >&2; continue
        fi
      else
        continue                                  # someone else's link
      fi
      [[ -w $etc ]] || { echo "warning: cannot remove the stale link $etc/$f -> $target (not root?)" >&2; continue; }
      rm -f "$etc/$f"; changed=1
      echo "removed the stale link $etc/$f -> $target left by an earlier local cluster" >&2
    fi
    if [[ -e $etc/$f.mpbench-backup && ! -e $etc/$f && ! -L $etc/$f && -w $etc ]]; then
      mv "$etc/$f.mpbench-backup" "$etc/$f"; changed=1
      echo "restored $etc/$f from $f.mpbench-backup" >&2
    fi
  done
  # The old script also created /etc/slurm itself; remove it when that left it empty and no package owns it.
  if ((changed)) && [[ -z $(ls -A "$etc") ]] && ! dpkg-query -S "$etc" >/dev/null 2>&1; then
    rmdir "$etc" && echo "removed the empty $etc" >&2
  fi
  return 0
}

prepare() {
  undo_etc_leftovers
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    if [[ $(id -u) != 0 ]]; then
      echo "slurm-wlm and munge are not installed and this is not root: cannot install them" >&2; exit 3
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq slurm-wlm munge >/dev/null
  fi
}

alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop() {
  local d i
  for d in slurmd slurmctld munged; do
    if alive "$dir/$d.pid"; then kill "$(cat "$dir/$d.pid")" 2>/dev/null || true; fi
  done
  for i in $(seq 50); do
    alive "$dir/slurmd.pid" || alive "$dir/slurmctld.pid" || alive "$dir/munged.pid" || break
    sleep 0.2
  done
  for d in slurmd slurmctld munged; do
    if alive "$dir/$d.pid"; then kill -9 "$(cat "$dir/$d.pid")" 2>/dev/null || true; fi
  done
  undo_etc_leftovers
}

case $cmd in
  prepare) prepare; exit 0 ;;
  start|stop) dir=$(realpath -m "${2:?usage: local_cluster.sh $cmd DIR}") ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
if [[ $cmd == stop ]]; then stop; exit 0; fi

prepare
mkdir -p "$dir"/{spool,state,log,munge,dev,bin}
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
JobSubmitPlugins=lua
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:a100:2,gpu:a40:2 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=a100 Nodes=$host MaxTime=INFINITE State=UP
PartitionName=a40 Nodes=$host MaxTime=INFINITE State=UP
CONF
# gres.conf is read from the folder of slurm.conf.
cat > "$dir/gres.conf" <<CONF
NodeName=$host Name=gpu Type=a100 File=$dir/dev/gpu[0-1]
NodeName=$host Name=gpu Type=a40 File=$dir/dev/gpu[2-3]
CONF

# GPU-only partitions: sbatch refuses a job on a100/a40 that requests no GPU (read from the folder of slurm.conf).
cat > "$dir/job_submit.lua" <<'LUA'
local GPU_ONLY = { a100 = true, a40 = true }

function slurm_job_submit(job_desc, part_list, submit_uid)
   local part = job_desc.partition
   if part ~= nil and GPU_ONLY[part] then
      local asked = ""
      for _, key in ipairs({ "tres_per_node", "tres_per_job", "tres_per_task", "tres_per_socket", "gres" }) do
         asked = asked .. tostring(job_desc[key] or "")
      end
      if not string.find(asked, "gpu") then
         slurm.log_user("partition " .. part .. " takes only jobs that request a GPU (e.g. --gres=gpu:" .. part .. ":1)")
         return slurm.ERROR
      end
   end
   return slurm.SUCCESS
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
   return slurm.SUCCESS
end
LUA

# The job step's inner srun runs without SLURM_CONF: this srun, first on PATH, sets it again.
path_without_bin=$(tr ':' '\n' <<<"$PATH" | grep -vxF "$dir/bin" | paste -sd: -)
real_srun=$(PATH=$path_without_bin type -P srun) || { echo "no srun on PATH" >&2; exit 1; }
cat > "$dir/bin/srun" <<SH
#!/bin/sh
SLURM_CONF='$dir/slurm.conf'; export SLURM_CONF
exec '$real_srun' "\$@"
SH
chmod 755 "$dir/bin/srun"
printf 'SLURM_CONF=%s\nPATH=%s\n' "$dir/slurm.conf" "$dir/bin:$path_without_bin" > "$dir/env"

export SLURM_CONF=$dir/slurm.conf
slurmctld -f "$dir/slurm.conf"
slurmd -f "$dir/slurm.conf"
for _ in $(seq 30); do
  if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
    sinfo; echo "environment for its clients: $dir/env"; exit 0
  fi
  sleep 1
done
echo "local SLURM did not come up; logs in $dir/log" >&2
tail -20 "$dir"/log/*.log >&2
exit 1
