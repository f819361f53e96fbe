#!/bin/sh
# What the project needs from outside, checked and installed: Debian packages,
# llhttp's C sources, and node's `pg` module.  Called by mk/deps.mk:
#
#   mk/deps.sh check PKG...     exit 0 when everything is here, else 1 (quiet)
#   mk/deps.sh install PKG...   install what is missing (root: apt-get; otherwise
#                               print the commands to run and exit 1)
#
# Three rules shape this script.
#  - Nothing is removed or downgraded.  These machines run a nodejs build that
#    Debian's archive cannot give back, so every apt-get install is simulated
#    first and refused if apt would remove or downgrade any package.
#  - Services a package starts on install (nginx, sshd, PostgreSQL's "main"
#    cluster) never start, or are stopped and disabled at once: the project
#    starts its own instances, on ports it picks, and a system copy would only
#    compete for the CPUs being measured.
#  - llhttp comes from Debian's node-llhttp.  Its node-* dependencies cannot
#    always be installed beside these machines' nodejs; when apt refuses, the
#    package is downloaded and unpacked (dpkg-deb -x) into build/ instead of
#    being installed.  Either way build/llhttp/ holds llhttp.h and the three C
#    files, and the Makefile compiles them from there.  LLHTTP_FROM_ARCHIVE=1
#    takes the archive path even where installing would work (to test it).
set -eu
cd "$(dirname "$0")/.."

LLHTTP_DIR=build/llhttp
LLHTTP_SYSTEM=/usr/share/llhttp
LLHTTP_SYSTEM_H=/usr/share/include/llhttp/llhttp.h
NODE_DIR=servers/node

missing_packages() {
	for p in "$@"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null |
			grep -q 'install ok installed' || echo "$p"
	done
}

llhttp_ready() {
	for f in llhttp.h llhttp.c api.c http.c; do
		[ -e "$LLHTTP_DIR/$f" ] || return 1
	done
}

# node's dependencies are needed only once the node server declares some.
node_modules_ready() {
	[ ! -f "$NODE_DIR/package-lock.json" ] ||
		[ "$NODE_DIR/node_modules/.package-lock.json" -nt "$NODE_DIR/package-lock.json" ]
}

# apt-get -s prints "Remv pkg" for removals and "Inst pkg [old] (new ...)" for
# upgrades and downgrades; a downgrade is an Inst whose new version sorts lower.
apt_would_harm() {
	out=$(apt-get -s install --no-install-recommends "$@" 2>&1) || { echo "$out" | tail -3; return 0; }
	if echo "$out" | grep -q '^Remv '; then
		echo "$out" | grep '^Remv '
		return 0
	fi
	echo "$out" | sed -n 's/^Inst \([^ ]*\) \[\([^]]*\)\] (\([^ ]*\) .*/\1 \2 \3/p' |
		while read -r pkg old new; do
			if dpkg --compare-versions "$new" lt "$old"; then
				echo "Downgrade $pkg $old -> $new"
			fi
		done | grep . && return 0
	return 1
}

# A policy-rc.d that answers 101 ("action forbidden") keeps invoke-rc.d and
# deb-systemd-invoke from starting the services of what we install.  One that
# the machine already has is left alone.
POLICY=/usr/sbin/policy-rc.d
policy_installed=
forbid_service_starts() {
	[ -e "$POLICY" ] && return 0
	printf '#!/bin/sh\n# loopbench make deps: no service starts while it installs\nexit 101\n' >"$POLICY"
	chmod 755 "$POLICY"
	policy_installed=yes
}
allow_service_starts() {
	[ -z "$policy_installed" ] || rm -f "$POLICY"
}

# Stops and disables a service, whatever runs the machine's services.
service_off() {
	if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
		systemctl disable --now "$1" >/dev/null 2>&1 || true
	else
		[ ! -x "/etc/init.d/$1" ] || "/etc/init.d/$1" stop >/dev/null 2>&1 || true
		! command -v update-rc.d >/dev/null || update-rc.d "$1" disable >/dev/null 2>&1 || true
	fi
}

# PostgreSQL's package creates and starts a cluster "main"; the project never
# uses it (harness/pg makes its own).  Stopped, and start.conf says "disabled"
# so that nothing starts it again at boot.
postgres_main_off() {
	command -v pg_lsclusters >/dev/null || return 0
	pg_lsclusters -h 2>/dev/null | while read -r ver name _port status _rest; do
		[ "$name" = main ] || continue
		case $status in online*) pg_ctlcluster "$ver" main stop -m fast || true ;; esac
		conf=/etc/postgresql/$ver/main/start.conf
		[ ! -f "$conf" ] || echo disabled >"$conf"
	done
	service_off postgresql
}

services_off() {
	for p in "$@"; do
		case $p in
		nginx-light | nginx-core | nginx) service_off nginx ;;
		openssh-server) service_off ssh ;;
		postgresql | postgresql-15) postgres_main_off ;;
		esac
	done
}

install_packages() {
	[ $# -gt 0 ] || return 0
	echo "deps: installing: $*"
	if harm=$(apt_would_harm "$@"); then
		echo "deps: refusing 'apt-get install $*': apt would remove or downgrade packages:" >&2
		echo "$harm" >&2
		return 1
	fi
	forbid_service_starts
	trap allow_service_starts EXIT
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
	allow_service_starts
	trap - EXIT
	services_off "$@"
}

# build/llhttp/ from the installed package when it is there, or can be
# installed without harm; otherwise from the package's archive, unpacked.
install_llhttp() {
	mkdir -p "$LLHTTP_DIR"
	if [ ! -f "$LLHTTP_SYSTEM/llhttp.c" ] && [ "$(id -u)" = 0 ] && [ -z "${LLHTTP_FROM_ARCHIVE:-}" ] &&
		! apt_would_harm node-llhttp >/dev/null; then
		install_packages node-llhttp || true
	fi
	if [ -f "$LLHTTP_SYSTEM/llhttp.c" ] && [ -z "${LLHTTP_FROM_ARCHIVE:-}" ]; then
		src=$LLHTTP_SYSTEM hdr=$LLHTTP_SYSTEM_H how="installed package node-llhttp"
	else
		deb=$LLHTTP_DIR/deb
		rm -rf "$deb" && mkdir -p "$deb"
		echo "deps: node-llhttp cannot be installed here (not root, or apt refuses" \
			"it beside this machine's nodejs); unpacking its archive into $deb instead"
		(cd "$deb" && apt-get download node-llhttp) || return 1
		dpkg-deb -x "$deb"/node-llhttp_*.deb "$deb/root"
		src=$(pwd)/$deb/root$LLHTTP_SYSTEM hdr=$(pwd)/$deb/root$LLHTTP_SYSTEM_H
		how="archive $(basename "$deb"/node-llhttp_*.deb), unpacked"
	fi
	for f in llhttp.c api.c http.c; do ln -sfn "$src/$f" "$LLHTTP_DIR/$f"; done
	ln -sfn "$hdr" "$LLHTTP_DIR/llhttp.h"
	echo "$how" >"$LLHTTP_DIR/SOURCE"
	echo "deps: llhttp sources in $LLHTTP_DIR ($how)"
}

install_node_modules() {
	if ! command -v npm >/dev/null; then
		install_packages npm || return 1
	fi
	echo "deps: npm ci in $NODE_DIR (versions pinned by its package-lock.json)"
	(cd "$NODE_DIR" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
check)
	[ -z "$(missing_packages "$@")" ] && llhttp_ready && node_modules_ready
	;;
install)
	missing=$(missing_packages "$@")
	llhttp_ready && need_llhttp= || need_llhttp=yes
	node_modules_ready && need_node= || need_node=yes
	if [ -z "$missing$need_llhttp$need_node" ]; then
		echo 'deps: everything is installed'
		exit 0
	fi
	[ -z "$missing" ] || echo "deps: missing packages:" $missing
	[ -z "$need_llhttp" ] || echo "deps: missing: llhttp sources in $LLHTTP_DIR"
	[ -z "$need_node" ] || echo "deps: missing: node modules in $NODE_DIR/node_modules"
	# Only packages need root: llhttp's archive and node's modules do not.
	if [ -n "$missing" ]; then
		if [ "$(id -u)" != 0 ]; then
			echo "deps: run as root:  apt-get update && apt-get install -y --no-install-recommends" $missing >&2
			exit 1
		fi
		apt-get update -q
		# shellcheck disable=SC2086 # a list of package names
		install_packages $missing
	fi
	[ -z "$need_llhttp" ] || install_llhttp
	[ -z "$need_node" ] || install_node_modules
	echo 'deps: done'
	;;
*)
	echo "usage: mk/deps.sh check|install PACKAGE..." >&2
	exit 2
	;;
esac
