# Hosts: every role of a run on `local`, `ns:NAME` (a network namespace) or
# `ssh:USER@HOST[:PORT]` (harness/lib/hosts.py, docs/hosts.md).  The tests:
# several generators merged exactly (loopback, any user); the namespace
# transport end to end and the ssh transport against Debian's sshd started in a
# namespace (root; otherwise they say "not testable here").  Each also checks
# that nothing is left behind: namespaces, links, processes, remote directories.

.PHONY: test-hosts
test-hosts: $(BUILD)/loadgen $(BUILD)/srv-epoll | deps-ok
	@rc=0; for t in merge lab ssh; do \
	  LOOPBENCH_BUILD=$(BUILD) $(HARNESS_PY) tests/hosts/$$t.py || rc=1; \
	done; exit $$rc

TEST_TARGETS += test-hosts
## make test-hosts   several generators merged; the namespace and ssh transports (root)
