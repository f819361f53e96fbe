# Debian packages the project needs.  Every other target depends (order-only) on
# deps-ok, so a new machine needs nothing but `make test` or `make bench`.
DEB_PACKAGES := gcc make pkg-config clang libclang-rt-14-dev \
                libuv1-dev libev-dev libcunit1-dev libhttp-parser-dev \
                nodejs gnuplot-nox linux-perf strace valgrind curl \
                jupyter-nbconvert python3-ipykernel python3-pandas

.PHONY: deps-ok
deps-ok:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then $(MAKE) --no-print-directory deps; fi

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done); \
	if [ -z "$$missing" ]; then echo 'deps: every package is installed'; exit 0; fi; \
	echo "deps: missing:" $$missing; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "deps: run as root:  apt-get update && apt-get install -y $$missing" >&2; exit 1; fi; \
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing
