#!/bin/sh
# What srv-uring and the suites do where io_uring is blocked, checked on this
# machine by blocking it for real: build/no-io-uring runs each command under a
# seccomp filter that fails io_uring_setup/enter/register with EPERM, as a
# container's default profile does.
#
#   tests/build/uring-blocked.sh BUILD_DIR
#
# 1. srv-uring says why at start-up ("io_uring unavailable: ...") and exits 2,
#    without listening -- and so it does where only one feature is missing
#    (--no-buf-ring: registering a provided-buffer ring fails as before 5.19);
# 2. tests/usable.sh reports it not testable here (exit 3), with that reason;
# 3. the conformance suite and the loadgen integration cases report it "not
#    testable here" and pass, rather than failing every case or skipping it
#    silently; the harness says so and plans no point for it.
# Without the filter, srv-uring must start (else this machine cannot show the
# difference, and the test says so and fails).
set -u
build=${1:-build}
wrap=$build/no-io-uring
fail() { echo "uring-blocked: FAIL: $*"; exit 1; }

tests/usable.sh "$build/srv-uring" >/dev/null ||
	fail "srv-uring does not start here even without the filter: $(tests/usable.sh "$build/srv-uring")"

out=$("$wrap" "$build/srv-uring" --proto http --port 0 --quiet 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || fail "srv-uring under the filter exited $rc, expected 2 ($out)"
case $out in
*"io_uring unavailable: "*"Operation not permitted"*) ;;
*) fail "srv-uring under the filter said: $out";;
esac
echo "uring-blocked: srv-uring exits 2: $out"

out=$("$wrap" --no-buf-ring "$build/srv-uring" --proto http --port 0 --quiet 2>&1 >/dev/null); rc=$?
[ $rc -eq 2 ] || fail "srv-uring without buffer rings exited $rc, expected 2 ($out)"
case $out in
*"io_uring unavailable: a provided-buffer ring"*"5.19"*"Invalid argument"*) ;;
*) fail "srv-uring without buffer rings said: $out";;
esac
echo "uring-blocked: a kernel without buffer rings (5.19): $out"

why=$("$wrap" tests/usable.sh "$build/srv-uring"); rc=$?
[ $rc -eq 3 ] || fail "tests/usable.sh exited $rc, expected 3 ($why)"
echo "uring-blocked: tests/usable.sh: not testable here: $why"

log=$("$wrap" make --no-print-directory test-conformance CONF_MODELS=uring 2>&1); rc=$?
[ $rc -eq 0 ] || { echo "$log" | tail -20; fail "test-conformance exited $rc"; }
echo "$log" | grep -q "uring: not testable here: io_uring unavailable" ||
	{ echo "$log" | tail -20; fail "test-conformance did not report uring not testable here"; }
echo "uring-blocked: test-conformance: $(echo "$log" | grep -m1 'uring: not testable here')"

log=$("$wrap" python3 tests/loads/integration.py --build "$build" -k "srv-uring" 2>&1); rc=$?
[ $rc -eq 0 ] || { echo "$log"; fail "loadgen integration exited $rc"; }
echo "$log" | grep -q "^NOT TESTABLE HERE  counting rule vs srv-uring: io_uring unavailable" ||
	{ echo "$log"; fail "loadgen integration did not report srv-uring not testable here"; }
echo "uring-blocked: loadgen integration: $(echo "$log" | tail -1)"
log=$("$wrap" harness/run concurrency --list --models uring,epoll --build "$build" 2>&1); rc=$?
[ $rc -eq 0 ] || { echo "$log" | head; fail "harness/run --list exited $rc"; }
echo "$log" | grep -q "^harness/run: uring: not testable here: io_uring unavailable" ||
	{ echo "$log" | head; fail "harness/run did not report uring not testable here"; }
! echo "$log" | grep -q "^    uring " || fail "harness/run planned points for uring"
echo "uring-blocked: harness: $(echo "$log" | head -1)"
echo "uring-blocked: ok"
