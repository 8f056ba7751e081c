#!/usr/bin/env bash
# A/B of two builds of Causeway under the bench workload: the working tree's dist/ against a build
# of another commit (a git worktree in bench/.ab-<sha>/, git-ignored), both with the default
# pipeline (access log, call log, admin), plus the floor. Every system is started once, then
# measured in interleaved rounds (wrk -t1 -c50 on CPU 0; proxies and the backend on CPU 1). Prints
# the median req/s and the median CPU time of the main thread and of the whole process per request.
#   bench/ab-builds.sh REF [ROUNDS=6] [SECONDS=4]        e.g. bench/ab-builds.sh HEAD~3
set -euo pipefail
ref=${1:?usage: bench/ab-builds.sh REF [ROUNDS] [SECONDS]}; R=${2:-6}; S=${3:-4}
here=$(cd "$(dirname "$0")" && pwd); root=$(dirname "$here")
sha=$(git -C "$root" rev-parse --short "$ref"); base="$here/.ab-$sha"
if [ ! -f "$base/dist/src/cli/main.js" ]; then
  git -C "$root" worktree add -f -q "$base" "$sha"
  (cd "$base" && "$root/node_modules/.bin/tsc" -p tsconfig.json)
fi
tmp=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
taskset -c 1 node "$here/backend.mjs" 0 > "$tmp/backend.port" & pids+=($!)
until [ -s "$tmp/backend.port" ]; do sleep 0.1; done; BP=$(head -1 "$tmp/backend.port")
declare -A PORT PID; names=()
launch() { # name dist|floor
  local name=$1 dist=$2 d="$tmp/$1" P; mkdir -p "$d"
  P=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  printf 'listen: { host: 127.0.0.1, port: %s }\nadmin: { host: 127.0.0.1, port: 0 }\nlog: { file: %s/access.log }\nstorage: { path: %s/calls.db }\nupstreams:\n  b: { targets: [{ url: "http://127.0.0.1:%s" }] }\nroutes:\n  - { name: bench, match: { path: /* }, upstream: b }\n' "$P" "$d" "$d" "$BP" > "$d/c.yaml"
  if [ "$dist" = floor ]; then taskset -c 1 node "$here/floor.mjs" "http://127.0.0.1:$BP" "$P" > "$d/out" 2>&1 &
  else taskset -c 1 node "$dist/src/cli/main.js" start -c "$d/c.yaml" > "$d/out" 2>&1 & fi
  PID[$name]=$!; pids+=($!); PORT[$name]=$P; names+=("$name")
}
launch "base-$sha" "$base/dist"; launch current "$root/dist"; launch floor floor
for n in "${names[@]}"; do until curl -s -o /dev/null "http://127.0.0.1:${PORT[$n]}/"; do sleep 0.1; done; done
for n in "${names[@]}"; do taskset -c 0 wrk -t1 -c50 -d3s "http://127.0.0.1:${PORT[$n]}/" > /dev/null; done
declare -A RPS MAIN ALL
ticks() { awk '{print $14+$15}' "$1"; }
for r in $(seq "$R"); do
  for n in "${names[@]}"; do
    p=${PID[$n]}
    taskset -c 0 wrk -t1 -c50 -d1s "http://127.0.0.1:${PORT[$n]}/" > /dev/null
    m0=$(ticks /proc/$p/task/$p/stat); a0=$(ticks /proc/$p/stat)
    out=$(taskset -c 0 wrk -t1 -c50 -d"${S}"s "http://127.0.0.1:${PORT[$n]}/")
    m1=$(ticks /proc/$p/task/$p/stat); a1=$(ticks /proc/$p/stat)
    k=$(awk '/requests in/{print $1}' <<< "$out")
    RPS[$n]+=" $(awk '/Requests\/sec/{printf "%d",$2}' <<< "$out")"
    MAIN[$n]+=" $(( (m1 - m0) * 10000 / k ))"; ALL[$n]+=" $(( (a1 - a0) * 10000 / k ))"
  done
done
med() { tr ' ' '\n' <<< "$*" | grep . | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
echo "median of $R interleaved rounds x ${S}s (CPU time from /proc, clock ticks of 10 ms)"
for n in "${names[@]}"; do printf '%-14s %6s req/s   main thread %4s µs/req   process %4s µs/req   [req/s:%s]\n' "$n" "$(med ${RPS[$n]})" "$(med ${MAIN[$n]})" "$(med ${ALL[$n]})" "${RPS[$n]}"; done
