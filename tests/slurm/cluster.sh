#!/usr/bin/env bash
# A real one-node Slurm cluster on localhost, in a private folder, for the job tests: munged, slurmctld and slurmd
# started as root with every path under DIR; `stop` ends them and leaves nothing running.
#   Usage: cluster.sh start DIR [CPUS]   prints the environment to source (SLURM_CONF) once the node is idle
#          cluster.sh stop DIR
# Facts it relies on (Slurm 22.05, munge 0.5 on Debian 12, no systemd, no cgroups): Open MPI under srun needs PMIx;
# `SlurmdParameters=config_overrides` lets a node declare more CPUs than it has (ranks oversubscribe the cores);
# cred_expire is also how long a requeued job waits before it may start again.
set -euo pipefail
cmd=${1:?usage: cluster.sh start|stop DIR [CPUS]}
dir=$(mkdir -p "${2:?usage: cluster.sh start|stop DIR [CPUS]}" && cd "$2" && pwd)
cpus=${3:-8}

stop() {
  if [[ -f $dir/slurm.conf ]]; then
    SLURM_CONF=$dir/slurm.conf timeout 10 scontrol shutdown >/dev/null 2>&1 || true
  fi
  for pid in slurmd slurmctld munged; do
    [[ -f $dir/$pid.pid ]] || continue
    local p
    p=$(cat "$dir/$pid.pid")
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  # job steps the daemons leave behind (slurmstepd) die with their cluster
  pkill -9 -f "slurmstepd.*$dir" 2>/dev/null || true
}

if [[ $cmd == stop ]]; then
  stop
  exit 0
fi
[[ $cmd == start ]] || { echo "cluster.sh: unknown command $cmd" >&2; exit 2; }

host=$(hostname -s)
# ports of their own, so that two clusters (a developer's and CI's) never meet
base=$((20000 + ($$ % 2000) * 2))
mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
chmod 0755 "$dir" "$dir/munge"
if [[ ! -f $dir/munge/munge.key ]]; then
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 0400 "$dir/munge/munge.key"
fi
cat > "$dir/slurm.conf" <<CONF
ClusterName=tessera-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$base
SlurmdPort=$((base + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=5
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=pmix
MailProg=/bin/true
ReturnToService=2
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
EnforcePartLimits=ALL
SlurmdParameters=config_overrides
KillWait=5
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
stop  # a cluster left over from a killed run in the same folder
munged --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" --pid-file="$dir/munged.pid" \
  --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munge.seed" --force
export SLURM_CONF=$dir/slurm.conf
slurmctld
slurmd
for _ in $(seq 100); do
  state=$(sinfo -h -o %t 2>/dev/null || true)
  [[ $state == idle ]] && { echo "export SLURM_CONF=$dir/slurm.conf"; exit 0; }
  sleep 0.2
done
echo "cluster.sh: the node did not become idle (state '${state:-none}'); logs in $dir/log" >&2
tail -5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
exit 1
