#!/usr/bin/env bash
# Fails if parsing the Makefile runs anything that `make deps` installs.
#
# On a new machine the packages arrive only after make has parsed the Makefile
# (deps-ok is a prerequisite, so it runs later).  A variable computed at parse
# time from pkg-config, node, python modules or a library's path would hold
# "not installed" for the rest of that run -- the first `make bench` on a clean
# machine once failed to link srv-libuv exactly so.  Here make parses the
# Makefile under strace as if asked for each of several goals (MAKECMDGOALS set
# by hand, the goal itself an empty rule added with --eval, so no recipe runs),
# and every program it starts must be one of the few that every Debian machine
# has before `make deps`.
set -u
cd "$(dirname "$0")/../.."

# What a parse may run: the shell of $(shell ...) and the base tools it calls.
allowed='make sh dash bash find date'
log=$(mktemp); trap 'rm -f "$log"' EXIT
rc=0
for goals in help all test bench bench-full 'SAN=address,undefined all' 'SAN=thread test-tsan' fuzz-build; do
	vars=; goal=$goals
	case $goals in SAN=*) vars=${goals%% *}; goal=${goals#* } ;; esac
	# shellcheck disable=SC2086 # vars is empty or one word
	strace -f -qq -e trace=execve -e signal=none -o "$log" \
		make --no-print-directory $vars MAKECMDGOALS="$goal" \
		--eval='parse-time-only: ; @:' parse-time-only >/dev/null 2>&1 ||
		{ echo "parse-time: make did not parse for '$goals'"; rc=1; continue; }
	progs=$(sed -n 's/.*execve("\([^"]*\)".*= 0$/\1/p' "$log" | xargs -rn1 basename | sort -u)
	for p in $progs; do
		case " $allowed " in
		*" $p "*) ;;
		*) echo "parse-time: parsing for '$goals' ran $p (evaluate it in a recipe instead)"; rc=1 ;;
		esac
	done
done
[ $rc -eq 0 ] && echo "parse-time: parsing the Makefile runs only: $allowed"
exit $rc
