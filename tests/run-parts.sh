#!/usr/bin/env bash
# Runs `make test`'s parts, JOBS at a time, and reports each as it ends.
#
#   tests/run-parts.sh JOBS [--last PART] PART...
#
# Most parts spend their time waiting -- on timeouts, sleeps, servers draining,
# fuzzers running for a fixed time -- not computing, so several at once finish
# far sooner than one after another, even on two cores.  None of them asserts a
# timing tighter than its loose bounds, so they do not disturb each other's
# verdicts (a benchmark would: benchmarks are `make bench`, never a part).
#
# Each part's output goes to build/test-logs/PART.log and is printed whole when
# the part ends, so lines of parallel parts never interleave.  Every part runs,
# whatever the others do; --last names one that runs alone once every other
# has ended (a check of what they left behind).  The last line counts them all:
# `test: N passed, N failed`.
set -u
cd "$(dirname "$0")/.."

jobs=${1:?usage: tests/run-parts.sh JOBS [--last PART] PART...}
shift
last=
if [ "${1:-}" = --last ]; then
	last=${2:?run-parts: --last needs a part}
	shift 2
fi
[ $# -gt 0 ] || { echo "run-parts: no parts to run" >&2; exit 2; }
logs=build/test-logs
mkdir -p "$logs"

declare -A name_of=() start_of=()
passed=0 failed=0 failures=
t0=$(date +%s)

finish() {	# pid rc
	local part=${name_of[$1]} secs=$(($(date +%s) - ${start_of[$1]})) r
	if [ "$2" -eq 0 ]; then
		passed=$((passed + 1)) r=ok
	else
		failed=$((failed + 1)) r=FAILED failures="$failures $part"
	fi
	echo "=== $part"
	cat "$logs/$part.log"
	echo "=== $part: $r in $secs s"
	unset "name_of[$1]"
}

for part in "$@" $last; do
	limit=$jobs
	[ -n "$last" ] && [ "$part" = "$last" ] && limit=1	# alone, once the others have ended
	while [ ${#name_of[@]} -ge "$limit" ]; do
		wait -n -p done_pid
		finish "$done_pid" $?
	done
	# A shell without job control starts background commands with SIGINT and
	# SIGQUIT ignored; parts that test Ctrl-C need them back (and a Ctrl-C on
	# `make test` then reaches every part, which share our process group).
	env --default-signal=INT,QUIT make --no-print-directory "$part" \
		>"$logs/$part.log" 2>&1 </dev/null &
	name_of[$!]=$part
	start_of[$!]=$(date +%s)
	echo "--- $part started (log: $logs/$part.log)"
done
while [ ${#name_of[@]} -gt 0 ]; do
	wait -n -p done_pid
	finish "$done_pid" $?
done

[ -z "$failures" ] || echo "failed parts:$failures"
echo "test: $passed passed, $failed failed ($(($(date +%s) - t0)) s, $jobs parts at a time)"
[ "$failed" -eq 0 ]
