#!/bin/bash
# Concurrency stress for one server binary: the workload `make test-tsan` runs
# against the ThreadSanitizer builds (docs/reliability.md).
#
#   tests/faults/stress.sh --server build/san-thread/srv-epoll --loadgen build/loadgen \
#                          [--label NAME] [-- SERVER-ARGS...]
#
# One server (--max-conns 48, --idle-timeout-ms 1000) goes through four phases
# driven by build/loadgen, each touching a different piece of shared state:
#   A  40 keep-alive connections, 2 load threads, pipelined, GET / /cpu /block
#      /bytes mixed: work handed to and back from --offload threads, output
#      back-pressure, every reactor busy;
#   B  64 connections, a new one per request, over --max-conns: the listener
#      paused and resumed across reactors;
#   C  16 connections at 4 requests/s: idle timeouts firing between requests;
#   D  40 connections with 50 ms /block, SIGTERM 1.5 s in: the drain, with
#      work in flight.
# With $LOOPBENCH_DB set (make test-tsan runs under harness/pg), the server gets
# --db and /db and /queries join phases A and D: the blocking pool's hand-offs
# between serving threads, the event loops' database clients, and queries in
# flight at the drain.
# It fails when the server does not start, reports a data race (or any
# sanitizer error: its stderr is searched), does not exit 0 after SIGTERM, or
# breaks the contract's counting rule over the four phases:
#   completed <= server requests <= completed + abandoned + errors.
# Every step is bounded in time; the server is killed on any failure.
set -u

server= loadgen= label=
while [ $# -gt 0 ]; do
	case $1 in
	--server) server=$2; shift 2;;
	--loadgen) loadgen=$2; shift 2;;
	--label) label=$2; shift 2;;
	--) shift; break;;
	*) echo "usage: $0 --server BIN --loadgen BIN [--label NAME] [-- SERVER-ARGS...]" >&2; exit 2;;
	esac
done
[ -x "$server" ] && [ -x "$loadgen" ] || { echo "stress: need --server and --loadgen executables" >&2; exit 2; }
label=${label:-$(basename "$server") $*}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/lb-stress-XXXXXX")
spid= lpid=
cleanup() {
	[ -n "$lpid" ] && kill -KILL "$lpid" 2>/dev/null
	[ -n "$spid" ] && kill -KILL "$spid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "stress: $label: FAIL: $*"
	if [ -s "$tmp/err" ]; then echo "--- server stderr (first 150 lines)"; head -150 "$tmp/err"; fi
	exit 1
}

db_args=() db_mix=
if [ -n "${LOOPBENCH_DB:-}" ]; then
	db_args=(--db "$LOOPBENCH_DB" --db-conns 3)
	db_mix=',/db:2,/queries?n=5:1'
fi
"$server" --proto http --port 0 --quiet --cpu-iters-per-us 100 --idle-timeout-ms 1000 \
	--max-conns 48 --stats-file "$tmp/stats.json" "${db_args[@]}" "$@" >"$tmp/out" 2>"$tmp/err" &
spid=$!
for _ in $(seq 200); do
	grep -q '^listening on' "$tmp/out" 2>/dev/null && break
	kill -0 "$spid" 2>/dev/null || fail "server exited at start-up"
	sleep 0.1
done
port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/out")
[ -n "$port" ] || fail "no 'listening on' line within 20 s"

lg() {	# lg NAME LOADGEN-ARGS...
	local name=$1; shift
	timeout -k 5 60 "$loadgen" --proto http --target "127.0.0.1:$port" --quiet \
		--timeout-ms 5000 --json "$tmp/$name.json" "$@" >/dev/null 2>"$tmp/$name.err"
}

lg A -c 40 -t 2 --pipeline 2 --mix "/:6,/cpu?us=200:2,/block?us=2000:2,/bytes?n=100000:1$db_mix" -d 3
lg B -c 64 --close --mix '/:6,/cpu?us=200:2,/block?us=2000:2' -d 2
lg C -c 16 --rate 4 -d 3
lg D -c 40 -t 2 --mix "/:4,/cpu?us=2000:2,/block?us=50000:2$db_mix" -d 4 &
lpid=$!
sleep 1.5
kill -0 "$spid" 2>/dev/null || fail "server died under load"
kill -TERM "$spid"
rc=
for _ in $(seq 300); do
	if ! kill -0 "$spid" 2>/dev/null; then wait "$spid"; rc=$?; break; fi
	sleep 0.1
done
[ -n "$rc" ] || fail "no exit within 30 s of SIGTERM"
spid=
wait "$lpid"
lpid=

if grep -q 'Sanitizer' "$tmp/err"; then
	fail "$(grep -c 'WARNING: ThreadSanitizer' "$tmp/err") ThreadSanitizer report(s), exit $rc"
fi
[ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM (66: a sanitizer report)"
for p in A B C D; do [ -s "$tmp/$p.json" ] || fail "loadgen phase $p wrote no JSON: $(head -3 "$tmp/$p.err")"; done
[ -s "$tmp/stats.json" ] || fail "no stats file"

/usr/bin/python3 - "$tmp" "$label" <<'EOF' || exit 1
import json, sys
tmp, label = sys.argv[1], sys.argv[2]
srv = json.load(open(f"{tmp}/stats.json"))
done = slack = 0
phases = []
for p in "ABCD":
    d = json.load(open(f"{tmp}/{p}.json"))
    c = d["requests"] + d.get("warmup_requests", 0)
    e = sum(d["errors"].values()) + sum(d.get("warmup_errors", {}).values())
    done += c
    slack += d.get("abandoned", 0) + e
    phases.append(f"{p} {c}")
req = srv["requests"]
ok = done <= req <= done + slack and done > 0
print(f"stress: {label}: {'ok' if ok else 'FAIL'}: server requests {req}, client completed {done} "
      f"({', '.join(phases)}), errors+abandoned {slack}, timeouts {srv.get('timeouts')}, "
      f"peak_conns {srv.get('peak_conns')}")
sys.exit(0 if ok else 1)
EOF
