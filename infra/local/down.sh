#!/usr/bin/env bash
# Stop the local quantray stack started by infra/local/up.sh.
#
# Kills the process groups recorded in $QR_STATE_DIR/pgids (worker, head, S3: the reverse of start-up) and
# the process groups of their descendants (Ray runs each job driver in a session of its own), TERM first,
# KILL after a grace period, always by process-group id. Nothing is stopped by name, and Ray's own stop
# command (which stops every Ray process of the machine) is never used: other Ray clusters are untouched.
# The state dir is kept for its logs; pass --purge to delete it.
#
# Environment: QR_STATE_DIR (default /tmp/qrs-$UID), QR_STOP_GRACE seconds before KILL (default 15).
set -uo pipefail

state="${QR_STATE_DIR:-/tmp/qrs-$(id -u)}"
grace="${QR_STOP_GRACE:-15}"
purge=0
[[ "${1:-}" == "--purge" ]] && purge=1

pgids_file="$state/pgids"
if [[ ! -s "$pgids_file" ]]; then
  echo "down.sh: no stack recorded in $state"
  [[ $purge -eq 1 ]] && rm -rf "$state"
  exit 0
fi

group_alive() { kill -0 -- "-$1" 2>/dev/null; }

# A recorded group is ours if its leader is the very process up.sh started (same start time, field 22 of
# /proc/PID/stat), or if the leader has exited: Linux never hands out a PID that is still in use as a
# process-group id, so survivors of a dead leader are still our processes. A leader with another start
# time means the id was recycled after the stack died: leave that group alone.
is_ours() {
  local pgid="$1" started="$2"
  [[ -r "/proc/$pgid/stat" ]] || return 0
  [[ -z "$started" ]] || [[ "$(sed 's/^.*) //' "/proc/$pgid/stat" 2>/dev/null | awk '{print $20}')" == "$started" ]]
}

# descendant_groups PGID...: the other process groups holding descendants of the given groups' processes.
descendant_groups() {
  ps -e -o pid=,ppid=,pgid= | awk -v roots="$*" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) root[r[i]] = 1 }
    { pids[NR] = $1; parent[$1] = $2; group[$1] = $3 }
    END {
      for (i in pids) if (group[pids[i]] in root) mark[pids[i]] = 1
      do {
        changed = 0
        for (i in pids) { p = pids[i]; if (!(p in mark) && (parent[p] in mark)) { mark[p] = 1; changed = 1 } }
      } while (changed)
      for (p in mark) if (!(group[p] in root)) extra[group[p]] = 1
      for (g in extra) print g
    }'
}

# Recorded groups, newest first; skip malformed lines and recycled ids.
groups=()
names=()
while read -r name pgid started; do
  [[ "$pgid" =~ ^[0-9]+$ ]] && [[ "$pgid" -gt 1 ]] || { echo "down.sh: bad entry '$name $pgid'" >&2; continue; }
  if group_alive "$pgid" && ! is_ours "$pgid" "$started"; then
    echo "down.sh: process group $pgid ($name) now belongs to another program; not touching it" >&2
    continue
  fi
  groups+=("$pgid")
  names+=("$name")
done < <(tac "$pgids_file")

# Snapshot the descendants' groups before anything dies (orphans are re-parented and lose the link).
mapfile -t extra < <(descendant_groups "${groups[@]}")

for i in "${!groups[@]}"; do
  group_alive "${groups[$i]}" && kill -TERM -- "-${groups[$i]}" 2>/dev/null
done
for g in "${extra[@]}"; do
  [[ "$g" -gt 1 ]] && kill -TERM -- "-$g" 2>/dev/null
done

all=("${groups[@]}" "${extra[@]}")
deadline=$((SECONDS + grace))
for g in "${all[@]}"; do
  while group_alive "$g" && ((SECONDS < deadline)); do sleep 0.1; done
done
for g in "${all[@]}"; do
  if group_alive "$g"; then
    echo "down.sh: process group $g still alive after ${grace}s; sending KILL" >&2
    kill -KILL -- "-$g" 2>/dev/null
  fi
done
for g in "${all[@]}"; do
  for ((i = 0; i < 50; i++)); do group_alive "$g" || break; sleep 0.1; done
  if group_alive "$g"; then
    echo "down.sh: process group $g survived KILL" >&2
    exit 1
  fi
done

: > "$pgids_file"
[[ $purge -eq 1 ]] && rm -rf "$state"
echo "down.sh: stopped ${names[*]} (${#groups[@]} recorded process groups, ${#extra[@]} descendant groups)"
