#!/usr/bin/env bash
# One process under sustained load: does its throughput hold? Starts the bench backend and either
# Causeway with its default pipeline (access log to a file, SQLite call log, admin) or the floor,
# all on CPU 1, then runs wrk -t1 -c50 from CPU 0 RUNS times back to back and prints, per run:
# req/s, CPU µs per request (whole process and request thread, from /proc), mark-compacts so far
# in the process (--trace-gc, every isolate), RSS, and the call log's size.
#   bench/sustained.sh [causeway|floor] [RUNS=9] [SECONDS=4] [extra node flags...]
# (bench/RESULTS.md, Profile findings: Causeway fell ~15% after ~16 s until session 5 found why — a
# long-lived Set of calls in flight; test/integration/gc-promotion.test.ts guards it now.)
set -euo pipefail
what=${1:-causeway}; N=${2:-9}; S=${3:-4}; shift $(( $# < 3 ? $# : 3 )); flags=("$@")
here=$(cd "$(dirname "$0")" && pwd); root=$(dirname "$here")
tmp=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
taskset -c 1 node "$here/backend.mjs" 0 > "$tmp/backend.port" & pids+=($!)
until [ -s "$tmp/backend.port" ]; do sleep 0.1; done; BP=$(head -1 "$tmp/backend.port")
P=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
if [ "$what" = floor ]; then
  taskset -c 1 node --trace-gc "${flags[@]}" "$here/floor.mjs" "http://127.0.0.1:$BP" "$P" > "$tmp/out" 2>&1 & p=$!
else
  printf 'listen: { host: 127.0.0.1, port: %s }\nadmin: { host: 127.0.0.1, port: 0 }\nlog: { file: %s/access.log }\nstorage: { path: %s/calls.db }\nupstreams:\n  b: { targets: [{ url: "http://127.0.0.1:%s" }] }\nroutes:\n  - { name: bench, match: { path: /* }, upstream: b }\n' "$P" "$tmp" "$tmp" "$BP" > "$tmp/c.yaml"
  taskset -c 1 node --trace-gc "${flags[@]}" "$root/dist/src/cli/main.js" start -c "$tmp/c.yaml" > "$tmp/out" 2>&1 & p=$!
fi
pids+=($p)
until curl -s -o /dev/null "http://127.0.0.1:$P/"; do sleep 0.1; done
ticks() { awk '{print $14+$15}' "$1"; }
for i in $(seq "$N"); do
  a0=$(ticks /proc/$p/stat); m0=$(ticks /proc/$p/task/$p/stat)
  out=$(taskset -c 0 wrk -t1 -c50 -d"${S}"s "http://127.0.0.1:$P/")
  a1=$(ticks /proc/$p/stat); m1=$(ticks /proc/$p/task/$p/stat)
  k=$(awk '/requests in/{print $1}' <<< "$out")
  db=$([ -f "$tmp/calls.db" ] && du -k "$tmp/calls.db" | cut -f1 || echo 0)
  printf 'run %2d  %8s req/s  process %3d µs/req  request thread %3d  mark-compacts %3d  rss %6d kB  call log %7d kB\n' \
    "$i" "$(awk '/Requests\/sec/{printf "%d",$2}' <<< "$out")" $(( (a1 - a0) * 10000 / k )) $(( (m1 - m0) * 10000 / k )) \
    "$(grep -c Mark-Compact "$tmp/out" || true)" "$(awk '/VmRSS/{print $2}' /proc/$p/status)" "$db"
done
