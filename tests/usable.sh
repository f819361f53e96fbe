#!/bin/sh
# Can this server binary run on this machine?  Every suite asks before it runs a
# model, so a model that cannot (srv-uring where the kernel lacks an io_uring
# feature, or a seccomp filter blocks io_uring) is reported "not testable here"
# with its own reason, instead of failing every case or being left out
# silently.
#
#   tests/usable.sh build/srv-uring     exit 0: it runs; exit 3: it cannot, and
#                                       stdout has its reason; 1: it failed otherwise
#
# It starts the server (--port 0) and waits for its "listening on" line: a
# model that cannot run says "srv-<model>: <what> unavailable: <why>" on stderr
# and exits 2 before listening (docs/contract.md).  The server is then stopped.
set -u
bin=${1:?usage: tests/usable.sh SERVER-BINARY}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lb-usable-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

: >"$tmp/out"	# before the server opens it: the loop reads it at once
"$bin" --proto http --port 0 --quiet --cpu-iters-per-us 100 >"$tmp/out" 2>"$tmp/err" &
pid=$!
rc=
for _ in $(seq 200); do
	if grep -q '^listening on' "$tmp/out"; then
		kill -TERM "$pid"
		wait "$pid"
		exit 0
	fi
	if ! kill -0 "$pid" 2>/dev/null; then
		wait "$pid"
		rc=$?
		break
	fi
	sleep 0.05
done
if [ -z "$rc" ]; then
	kill -KILL "$pid" 2>/dev/null
	echo "$bin: no 'listening on' line within 10 s"
	exit 1
fi
why=$(grep -m1 ' unavailable: ' "$tmp/err")
if [ "$rc" -eq 2 ] && [ -n "$why" ]; then
	echo "${why#*: }"
	exit 3
fi
echo "$bin: exited $rc at start-up: $(head -c 300 "$tmp/err")"
exit 1
