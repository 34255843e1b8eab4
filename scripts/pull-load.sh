#!/usr/bin/env bash
# Pull load measurement (issue 5, acceptance d): node A gets one 1080p H.264 + Opus stream
# (≈2.5 Mbps, `vigil publish --profile 1080p`); node B pulls it QTY times (Stream-1 … Stream-QTY)
# with one POST /api/v1/pulls; then the CPU and memory of A, B and the publisher are sampled from
# /proc for DURATION seconds.
#
# Loopback only; every process it starts is stopped on exit; bounded in time (about DURATION +
# 2 minutes at most). Needs go, curl and jq.
#
#   bash scripts/pull-load.sh                 # QTY=100 DURATION=60
#   QTY=20 DURATION=30 bash scripts/pull-load.sh
#   RECORD=1 bash scripts/pull-load.sh        # B also records every pulled stream (record.auto=all)
set -euo pipefail
cd "$(dirname "$0")/.."

QTY=${QTY:-100}
DURATION=${DURATION:-60}
PROFILE=${PROFILE:-1080p}
RECORD=${RECORD:-0}
A_HTTP=${A_HTTP:-127.0.0.1:18081}
A_UDP=${A_UDP:-127.0.0.1:18189}
B_HTTP=${B_HTTP:-127.0.0.1:18082}
B_UDP=${B_UDP:-127.0.0.1:18190}

for tool in go curl jq; do
  command -v "$tool" >/dev/null || { echo "pull-load: $tool is required" >&2; exit 2; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "pull-load: logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

# wait_for DESCRIPTION SECONDS COMMAND…: polls COMMAND every 0.5 s.
wait_for() {
  local what=$1 limit=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "pull-load: timed out after ${limit}s waiting for $what" >&2
      tail -n 20 "$work"/*.log >&2 || true
      exit 1
    fi
    sleep 0.5
  done
}

for addr in "$A_HTTP" "$B_HTTP"; do
  if curl -fsS -o /dev/null "http://$addr/healthz" 2>/dev/null; then
    echo "pull-load: something already serves $addr (set A_HTTP/B_HTTP)" >&2
    exit 2
  fi
done
echo "pull-load: building vigil"
go build -o "$work/vigil" ./cmd/vigil

b_record=()
[ "$RECORD" = 1 ] && b_record=(--record-auto all)
"$work/vigil" serve --http "$A_HTTP" --udp "$A_UDP" --dir "$work/a" --log-level warn >"$work/a.log" 2>&1 &
a_pid=$!; pids+=("$a_pid")
"$work/vigil" serve --http "$B_HTTP" --udp "$B_UDP" --dir "$work/b" --log-level warn "${b_record[@]}" >"$work/b.log" 2>&1 &
b_pid=$!; pids+=("$b_pid")
wait_for "node A" 20 curl -fsS "http://$A_HTTP/readyz"
wait_for "node B" 20 curl -fsS "http://$B_HTTP/readyz"

"$work/vigil" publish --server "http://$A_HTTP" --name cam --profile "$PROFILE" \
  --duration "$((DURATION + 120))s" >"$work/publish.log" 2>&1 &
pub_pid=$!; pids+=("$pub_pid")
publishing() { curl -fsS "http://$1/api/v1/streams/$2" | jq -e '.status == "publishing"'; }
wait_for "cam on A" 20 publishing "$A_HTTP" cam

echo "pull-load: pulling cam from A $QTY times into B"
start=$SECONDS
curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' "http://$B_HTTP/api/v1/pulls" \
  -d "{\"source\":\"http://$A_HTTP\",\"remote\":\"cam\",\"local\":\"Stream-\",\"qty\":$QTY}"
all_publishing() {
  curl -fsS "http://$B_HTTP/api/v1/streams" |
    jq -e --argjson n "$QTY" '[.streams[] | select(.status == "publishing" and .video.frames > 0)] | length == $n'
}
if ! (wait_for "$QTY pulled streams on B" "${WAIT:-120}" all_publishing); then
  curl -fsS "http://$B_HTTP/api/v1/pulls" |
    jq -r '.pulls | group_by(.state)[] | "pulls \(.[0].state): \(length) \([.[].lastError // empty] | unique | .[:3])"' >&2
  curl -fsS "http://$B_HTTP/api/v1/streams" |
    jq -r '.streams | group_by(.status)[] | "streams \(.[0].status): \(length), video frames ≥ \(map(.video.frames) | min)"' >&2
  exit 1
fi
echo "pull-load: $QTY streams publishing on B after $((SECONDS - start)) s; settling 5 s"
sleep 5

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# udp_drops PID: datagrams the kernel dropped on the process's UDP sockets (full receive buffers).
udp_drops() {
  local inodes
  inodes=$(find "/proc/$1/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null | tr -dc '0-9\n' | sort -u | tr '\n' ' ')
  awk -v list="$inodes" 'BEGIN { n = split(list, a, " "); for (i = 1; i <= n; i++) want[a[i]] = 1 }
    NR > 1 && ($10 in want) { d += $NF } END { print d + 0 }' /proc/net/udp /proc/net/udp6 2>/dev/null
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)
declare -A t0 peak
for p in "$a_pid" "$b_pid" "$pub_pid"; do t0[$p]=$(ticks "$p"); peak[$p]=0; done
before=$(curl -fsS "http://$B_HTTP/api/v1/streams")
drops_before=$(udp_drops "$b_pid")
began=$(date +%s.%N)
for _ in $(seq 1 "$DURATION"); do
  for p in "$a_pid" "$b_pid" "$pub_pid"; do
    r=$(rss_kb "$p"); [ "$r" -gt "${peak[$p]}" ] && peak[$p]=$r
  done
  sleep 1
done
ended=$(date +%s.%N)
after=$(curl -fsS "http://$B_HTTP/api/v1/streams")
drops_after=$(udp_drops "$b_pid")

elapsed=$(echo "$ended - $began" | bc -l 2>/dev/null || awk -v a="$began" -v b="$ended" 'BEGIN{print b-a}')
report() { # name pid
  local used=$(( $(ticks "$2") - ${t0[$2]} ))
  awk -v n="$1" -v u="$used" -v hz="$hz" -v e="$elapsed" -v pk="${peak[$2]}" -v hwm="$(hwm_kb "$2")" -v q="$QTY" 'BEGIN {
    cpu = u / hz / e * 100
    printf "%-10s CPU %6.1f%% of one core (%.3f CPU-s per pulled stream-minute)   RSS peak %4.0f MB (VmHWM %4.0f MB)\n",
      n, cpu, (u / hz) / (q * e / 60), pk / 1024, hwm / 1024 }'
}
echo
echo "pull-load: $QTY pulls of one $PROFILE stream, sampled for ${elapsed%.*} s on $(nproc) cores"
report "node A" "$a_pid"
report "node B" "$b_pid"
report "publisher" "$pub_pid"
lost() { jq '[.streams[] | (.video.lost // 0) + (.audio.lost // 0)] | add // 0'; }
drops() { jq '[.streams[] | .subscriberDrops] | add // 0'; }
echo "B: packets lost for good over the window: $(( $(echo "$after" | lost) - $(echo "$before" | lost) )), subscriber drops: $(( $(echo "$after" | drops) - $(echo "$before" | drops) ))"
echo "B: video fps min/max now: $(echo "$after" | jq -r '[.streams[].video.fps] | "\(min)/\(max)"'), bitrate min/max (Mbps): $(echo "$after" | jq -r '[.streams[].video.bitrate / 1e6] | "\(min | . * 100 | round / 100)/\(max | . * 100 | round / 100)"')"
echo "B: kernel UDP drops on its sockets over the window: $((drops_after - drops_before))"
echo "B: pulls playing: $(curl -fsS "http://$B_HTTP/api/v1/pulls" | jq '[.pulls[] | select(.state == "playing")] | length') of $QTY; A: udp drops $(curl -fsS "http://$A_HTTP/api/v1/stats" | jq '.udp.drops')"
