#!/bin/bash
# Small-request throughput of two (or more) checkouts, side by side: each round
# starts each checkout's server from source (--memory plus ARGS) on a temp unix
# socket, drives it with bench/kvdrive.ts (using that checkout's library) for
# 2 s, and reads the server's CPU from /proc; rounds interleave the checkouts.
# Prints per label the median ops/s [min-max], server and client CPU per op.
# usage: bench/kvab.sh ROUNDS "label|CHECKOUT|ARGS" ...
#   e.g. bench/kvab.sh 7 "old|/tmp/old|" "new|$PWD|" "new-h0|$PWD|--history 0"
set -u
here=$(cd "$(dirname "$0")" && pwd)
bun=$here/../node_modules/.bin/bun
rounds=$1; shift
declare -A R
one() { # CHECKOUT ARGS... -> "ops server_us client_us"
  local root=$1; shift
  local d; d=$(mktemp -d /tmp/kvab.XXXXXX)
  (cd "$root" && exec "$bun" src/main.ts serve --socket "$d/s" --memory "$@" >"$d/log" 2>&1) & local pid=$!
  for _ in $(seq 100); do [ -S "$d/s" ] && break; sleep 0.05; done
  # The server is bun itself (exec), so its /proc entry is the subshell's pid.
  local s0; s0=$(awk '{print $14+$15}' /proc/$pid/stat)
  /usr/bin/time -f "%U %S" -o "$d/t" "$bun" "$here/kvdrive.ts" "$root" "$d/s" 16 2 >"$d/ops"
  local s1; s1=$(awk '{print $14+$15}' /proc/$pid/stat)
  kill $pid; wait $pid 2>/dev/null
  python3 -c "
ops=$(cat $d/ops); n=ops*2.5; u,s=map(float,open('$d/t').read().split())
print(ops, ($s1-$s0)*1e4/n, (u+s)*1e6/n)"
  rm -rf "$d"
}
for _ in $(seq "$rounds"); do
  for spec in "$@"; do
    IFS='|' read -r label root args <<<"$spec"
    R[$label]+="$(one "$root" $args);"
  done
done
for spec in "$@"; do
  IFS='|' read -r label root args <<<"$spec"
  echo "${R[$label]}" | python3 -c "
import sys, statistics as st
rows = [r.split() for r in sys.stdin.read().strip().strip(';').split(';') if r.strip()]
ops = [float(r[0]) for r in rows]; srv = [float(r[1]) for r in rows]; cli = [float(r[2]) for r in rows]
print('%-10s ops/s %7.0f [%6.0f-%6.0f]  server %.2f [%.2f-%.2f] us/op  client %.2f us/op' % ('$label', st.median(ops), min(ops), max(ops), st.median(srv), min(srv), max(srv), st.median(cli)))"
done
