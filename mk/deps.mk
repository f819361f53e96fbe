# What the project needs from outside (mk/deps.sh says how each is installed):
# Debian packages, llhttp's C sources (from Debian's node-llhttp, into
# build/llhttp/) and node's modules (servers/node/package-lock.json).  Every
# other target depends (order-only) on deps-ok, so a new machine needs nothing
# but `make test` or `make bench`.
#
# Packages, by what needs them: build and test; the event libraries; CUnit;
# node (a separate build on these machines: never removed or replaced, see
# mk/deps.sh); PostgreSQL and libpq (/db); liburing (srv-uring); the harness
# (gnuplot, perf, strace, valgrind, wrk and nginx-light for harness/wrk-compare,
# iproute2 for network namespaces, openssh-server for the ssh transport's test);
# netcat-openbsd for the labs' connections made by hand (nc); the notebooks
# (Debian's python3 with nbconvert, ipykernel and pandas).
DEB_PACKAGES := gcc make pkg-config clang libclang-rt-14-dev \
                libuv1-dev libev-dev libcunit1-dev \
                nodejs postgresql libpq-dev liburing-dev \
                gnuplot-nox linux-perf strace valgrind curl wrk nginx-light \
                apache2-utils nghttp2-client \
                iproute2 openssh-server netcat-openbsd \
                python3 jupyter-nbconvert python3-ipykernel python3-pandas

.PHONY: deps deps-ok
deps-ok:
	@mk/deps.sh check $(DEB_PACKAGES) || $(MAKE) --no-print-directory deps

deps:
	@mk/deps.sh install $(DEB_PACKAGES)
