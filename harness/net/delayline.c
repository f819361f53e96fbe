/* delayline: a wire with a delay, between two network namespaces.
 *
 * Kernels without netem (CONFIG_NET_SCH_NETEM unset) cannot add a round-trip
 * time with tc, and without the fq qdisc nothing can delay packets by timestamp
 * either.  This program is the wire instead: it opens a TUN device inside each of
 * two namespaces, reads every packet one side sends, holds it for half the
 * round-trip time, and writes it into the other side.  The two devices form a
 * point-to-point link that replaces a veth pair one for one; the harness gives
 * them addresses once this program says "ready".  The devices vanish when it
 * exits, so nothing outlives it.
 *
 * Each direction is netem's link model (delayq.h): a FIFO with a propagation
 * delay and optionally a rate and a loss probability.  The only timer is the
 * earliest head of the two queues; it waits with epoll_pwait2's nanosecond
 * timeout and a 1 ns timer slack, since a millisecond-granular wait would add up
 * to a millisecond to every packet.
 *
 * What the wire carries: by default the devices take GSO packets and partial
 * checksums (IFF_VNET_HDR and TUNSETOFFLOAD), as a veth pair does: a TCP write of
 * 64 KiB crosses as one packet with its virtio-net header, which this program
 * passes through untouched, and the receiving kernel gets it as the sender built
 * it.  The MTU stays the veth's, so TCP's segment size is a real network's, and
 * netem on a veth sees the same packets (loss and rate then apply to a whole GSO
 * packet, on either mechanism).  --no-offload turns it off: the sending kernel
 * checksums and cuts every packet to the MTU before the device, one read and one
 * write each.
 *
 * The wire costs CPU, and the run must say how much.  Writing a packet into a
 * TUN device runs the receiving side's IP and TCP input in the writer, so this
 * program's CPU time includes the receiving kernel's work for every packet it
 * delivers (on a veth pair the sender pays that instead).  Its counters -- per
 * direction packets, bytes, losses, overflows, queue depth and how late each
 * packet left compared with when it was due; CPU time, wake-ups -- are written as
 * one JSON line at exit (SIGINT/SIGTERM), and with --control whenever the
 * harness asks.
 *
 * --control: commands, one per line, on stdin; the answer is one line on stdout.
 *   stats                                   the counters since the last `stats`
 *                                           (or the start) as JSON; they restart
 *   set rtt_ms=MS loss_pct=P rate_mbit=R    new settings, from the next packet on;
 *                                           answers "ok" (any key may be left out)
 * The end of stdin ends the program (the harness is gone).
 *
 * usage: delayline --ns-a NS --ns-b NS [--dev NAME | --dev-a NAME --dev-b NAME]
 *                  [--tap] [--no-offload] [--rtt-ms MS] [--loss PCT]
 *                  [--rate-mbit R] [--limit N] [--queue-mb MB] [--seed N]
 *                  [--stats-file PATH] [--control]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "delayq.h"

/* Packets read from one device per wake-up before the due ones are sent: a flood
 * in one direction must not hold back the other direction's departures. */
#define READ_BATCH	64

/* One direction of the wire: packets read from `in`, written to `out`. */
struct direction {
	const char *name;		/* "a->b" */
	int in, out;
	struct delayq q;
	struct lathist late;		/* ns between due and written */
	uint64_t packets, bytes, write_errors;
};

static struct {
	const char *ns_a, *ns_b, *dev_a, *dev_b, *stats_file;
	char dev_prefix[IFNAMSIZ - 1];	/* room for the "a" or "b" after it */
	bool tap, offload, control;
	double rtt_ms, loss_pct, rate_mbit;
	unsigned limit;
	size_t queue_bytes;
	uint64_t seed;
} opt = { .dev_prefix = "lbwire", .offload = true, .limit = 1000,
	  .queue_bytes = 64u << 20, .seed = 1 };

/* The counters restart at every `stats`: these are their start. */
static struct {
	uint64_t t_ns, wakeups, cpu_ns;
	double cpu_user_s, cpu_sys_s;
} since;

static uint64_t wakeups;
static size_t vnet_hdr_len;		/* bytes before each packet (offload on) */

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("delayline: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct delayq_link link_of_options(void)
{
	return (struct delayq_link){
		.delay_ns = (uint64_t)(opt.rtt_ms * 1e6 / 2),
		.rate_bps = (uint64_t)(opt.rate_mbit * 1e6),
		.loss = opt.loss_pct / 100.0,
		.limit = opt.limit,
	};
}

/* A TUN (TAP) device created inside namespace `ns` (the fd works from anywhere
 * afterwards: a device belongs to a namespace, its file to this process). */
static int tun_open_in(const char *ns, const char *name)
{
	char path[256];
	struct ifreq ifr;
	int self, target, fd;

	snprintf(path, sizeof path, "/var/run/netns/%s", ns);
	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	target = open(path, O_RDONLY | O_CLOEXEC);
	if (self < 0 || target < 0)
		die("namespace %s: %s (create it with `ip netns add %s`)", ns,
		    strerror(errno), ns);
	if (setns(target, CLONE_NEWNET) < 0)
		die("entering namespace %s: %s (needs root)", ns, strerror(errno));
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		die("/dev/net/tun: %s", strerror(errno));
	memset(&ifr, 0, sizeof ifr);
	ifr.ifr_flags = (opt.tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI |
			(opt.offload ? IFF_VNET_HDR : 0);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die("creating %s in %s: %s", name, ns, strerror(errno));
	if (opt.offload) {
		/* GSO packets and partial checksums, as on a veth; the peer device
		 * accepts exactly what this one hands out. */
		unsigned off = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN;

		if (ioctl(fd, TUNSETOFFLOAD, off) < 0)
			die("offloads on %s: %s (try --no-offload)", name, strerror(errno));
	}
	if (setns(self, CLONE_NEWNET) < 0)
		die("leaving namespace %s: %s", ns, strerror(errno));
	close(self);
	close(target);
	return fd;
}

static void direction_init(struct direction *d, const char *name, int in, int out)
{
	struct delayq_link l = link_of_options();
	int rc;

	d->name = name;
	d->in = in;
	d->out = out;
	rc = delayq_init(&d->q, opt.queue_bytes, &l, opt.seed + (uint64_t)(in + 1) * 7919);
	if (rc)
		die("a %zu-byte queue: %s", opt.queue_bytes, strerror(-rc));
}

/* Reads up to READ_BATCH packets the device has (non-blocking) into the queue,
 * each stamped with the time it was read: a packet that waited in the device's
 * queue while this program was busy is held that much longer (the run's measured
 * round trip shows it).  Returns the packets read. */
static int on_readable(struct direction *d)
{
	static char scratch[DELAYQ_MAX_PACKET];
	int got = 0;

	while (got < READ_BATCH) {
		char *room = delayq_reserve(&d->q, DELAYQ_MAX_PACKET);
		ssize_t n = read(d->in, room ? room : scratch, DELAYQ_MAX_PACKET);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;		/* EAGAIN: drained */
		got++;
		if (!room)
			delayq_overflow(&d->q);
		else
			delayq_commit(&d->q, (uint32_t)n, now_ns());
	}
	return got;
}

/* Writes every packet that is due; returns the next due time (0: none). */
static uint64_t send_due(struct direction *d)
{
	struct delayq_pkt *p;

	while ((p = delayq_head(&d->q)) != NULL) {
		uint64_t t = now_ns();
		ssize_t w;

		if (p->due_ns > t)
			return p->due_ns;
		lathist_add(&d->late, t - p->due_ns);
		do
			w = write(d->out, (char *)(p + 1), p->len);
		while (w < 0 && errno == EINTR);
		if (w < 0)		/* the receiving stack refused it: a drop */
			d->write_errors++;
		else {
			d->packets++;
			d->bytes += p->len - vnet_hdr_len;
		}
		delayq_pop(&d->q);
	}
	return 0;
}

/* This process's CPU time in ns: the scheduler's own count (what CPU per packet
 * divides), where getrusage's user/system split is sampled at clock ticks. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void cpu_times(double *user, double *sys)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	*sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void counters_restart(struct direction dirs[2])
{
	for (int i = 0; i < 2; i++) {
		delayq_reset_counters(&dirs[i].q);
		memset(&dirs[i].late, 0, sizeof dirs[i].late);
		dirs[i].packets = dirs[i].bytes = dirs[i].write_errors = 0;
	}
	since.t_ns = now_ns();
	since.wakeups = wakeups;
	since.cpu_ns = cpu_ns();
	cpu_times(&since.cpu_user_s, &since.cpu_sys_s);
}

/* The counters since the last restart, as one line of JSON. */
static void write_stats(FILE *f, struct direction dirs[2])
{
	uint64_t packets = dirs[0].packets + dirs[1].packets;
	double user, sys, cpu;

	cpu_times(&user, &sys);
	user -= since.cpu_user_s;
	sys -= since.cpu_sys_s;
	cpu = (double)(cpu_ns() - since.cpu_ns) / 1e9;
	fprintf(f, "{\"schema\":2,\"mechanism\":\"delayline\",\"devices\":{\"a\":\"%s\",\"b\":\"%s\"},"
		"\"rtt_ms\":%g,\"loss_pct\":%g,\"rate_mbit\":%g,\"limit\":%u,\"offload\":%s,"
		"\"wall_s\":%.3f,\"cpu_user_s\":%.6f,\"cpu_sys_s\":%.6f,\"cpu_s\":%.6f,"
		"\"packets\":%llu,\"cpu_ns_per_packet\":%.1f,\"wakeups\":%llu,\"directions\":{",
		opt.dev_a, opt.dev_b, opt.rtt_ms, opt.loss_pct, opt.rate_mbit, opt.limit,
		opt.offload ? "true" : "false", (double)(now_ns() - since.t_ns) / 1e9, user, sys,
		cpu, (unsigned long long)packets, packets ? cpu * 1e9 / (double)packets : 0.0,
		(unsigned long long)(wakeups - since.wakeups));
	for (int i = 0; i < 2; i++) {
		const struct direction *d = &dirs[i];

		fprintf(f, "%s\"%s\":{\"packets\":%llu,\"bytes\":%llu,\"lost\":%llu,"
			"\"overflow\":%llu,\"write_errors\":%llu,\"queue_max\":%llu,"
			"\"late_us\":{\"p50\":%.1f,\"p99\":%.1f,\"max\":%.1f,\"mean\":%.1f}}",
			i ? "," : "", d->name, (unsigned long long)d->packets,
			(unsigned long long)d->bytes, (unsigned long long)d->q.lost,
			(unsigned long long)d->q.overflow, (unsigned long long)d->write_errors,
			(unsigned long long)d->q.count_max,
			(double)lathist_quantile(&d->late, 0.5) / 1e3,
			(double)lathist_quantile(&d->late, 0.99) / 1e3, (double)d->late.max / 1e3,
			d->late.count ? d->late.sum / (double)d->late.count / 1e3 : 0.0);
	}
	fprintf(f, "}}\n");
	fflush(f);
}

static void write_final_stats(struct direction dirs[2])
{
	FILE *f = opt.stats_file ? fopen(opt.stats_file, "w") : stdout;

	if (!f)
		die("%s: %s", opt.stats_file, strerror(errno));
	write_stats(f, dirs);
	if (f != stdout)
		fclose(f);
}

static double num(const char *name, const char *v, double lo, double hi)
{
	char *end;
	double x = strtod(v, &end);

	if (end == v || *end || x < lo || x > hi || x != x)
		die("--%s %s: expected a number in [%g, %g]", name, v, lo, hi);
	return x;
}

/* `set key=value ...`: returns NULL, or what was wrong.  Nothing changes unless
 * every pair is right. */
static const char *control_set(char *args, struct direction dirs[2])
{
	double rtt = opt.rtt_ms, loss = opt.loss_pct, rate = opt.rate_mbit;
	struct delayq_link l;

	for (char *kv = strtok(args, " \t"); kv; kv = strtok(NULL, " \t")) {
		char *eq = strchr(kv, '='), *end;
		double *dst, hi;
		double x;

		if (!eq)
			return "expected key=value";
		*eq = '\0';
		if (!strcmp(kv, "rtt_ms"))
			dst = &rtt, hi = 10000;
		else if (!strcmp(kv, "loss_pct"))
			dst = &loss, hi = 100;
		else if (!strcmp(kv, "rate_mbit"))
			dst = &rate, hi = 1e6;
		else
			return "unknown key (rtt_ms, loss_pct, rate_mbit)";
		x = strtod(eq + 1, &end);
		if (end == eq + 1 || *end || x < 0 || x > hi || x != x)
			return "value out of range";
		*dst = x;
	}
	opt.rtt_ms = rtt;
	opt.loss_pct = loss;
	opt.rate_mbit = rate;
	l = link_of_options();
	delayq_set_link(&dirs[0].q, &l);
	delayq_set_link(&dirs[1].q, &l);
	return NULL;
}

/* Reads what stdin has and runs each complete command line.  Returns false at
 * the end of stdin. */
static bool on_control(struct direction dirs[2])
{
	static char buf[1024];
	static size_t len;
	ssize_t n = read(0, buf + len, sizeof buf - 1 - len);
	char *line, *nl;

	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	len += (size_t)n;
	buf[len] = '\0';
	line = buf;
	while ((nl = strchr(line, '\n')) != NULL) {
		*nl = '\0';
		if (!strcmp(line, "stats")) {
			write_stats(stdout, dirs);
			counters_restart(dirs);
		} else if (!strncmp(line, "set", 3) && (line[3] == ' ' || !line[3])) {
			const char *err = control_set(line + 3, dirs);

			printf(err ? "error: %s\n" : "ok\n", err);
			fflush(stdout);
		} else {
			printf("error: unknown command (stats, set)\n");
			fflush(stdout);
		}
		line = nl + 1;
	}
	len -= (size_t)(line - buf);
	memmove(buf, line, len);
	if (len == sizeof buf - 1)	/* a line longer than any command */
		len = 0;
	return true;
}

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: delayline --ns-a NS --ns-b NS [--dev NAME | --dev-a NAME --dev-b NAME]\n"
		"                 [--tap] [--no-offload] [--rtt-ms MS] [--loss PCT]\n"
		"                 [--rate-mbit R] [--limit N] [--queue-mb MB] [--seed N]\n"
		"                 [--stats-file PATH] [--control]\n"
		"Creates a TUN (--tap: TAP) device in namespace A (--dev-a, default NAMEa) and\n"
		"one in B (--dev-b, NAMEb), prints \"ready DEVA DEVB\", and forwards packets\n"
		"between them, each held for half of --rtt-ms (netem's model, with --loss\n"
		"percent and --rate-mbit per direction, at most --limit packets queued, 1000 by\n"
		"default), until SIGINT/SIGTERM; then writes its counters, CPU cost and\n"
		"lateness as JSON (--stats-file, else stdout).  --control: commands on stdin\n"
		"(stats; set rtt_ms=MS loss_pct=P rate_mbit=R), ends at the end of stdin.\n");
	exit(code);
}

static const char *dev_name(const char *v)
{
	if (strlen(v) >= IFNAMSIZ)
		die("device name %s: at most %d characters", v, IFNAMSIZ - 1);
	return v;
}

static void parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ns-a", 1, 0, 'a' }, { "ns-b", 1, 0, 'b' }, { "dev", 1, 0, 'd' },
		{ "dev-a", 1, 0, 'A' }, { "dev-b", 1, 0, 'B' },
		{ "tap", 0, 0, 't' }, { "no-offload", 0, 0, 'o' },
		{ "rtt-ms", 1, 0, 'r' }, { "loss", 1, 0, 'l' }, { "rate-mbit", 1, 0, 'R' },
		{ "limit", 1, 0, 'L' }, { "queue-mb", 1, 0, 'q' }, { "seed", 1, 0, 's' },
		{ "stats-file", 1, 0, 'f' }, { "control", 0, 0, 'c' },
		{ "help", 0, 0, 'h' }, { 0, 0, 0, 0 }
	};
	static char name_a[IFNAMSIZ + 1], name_b[IFNAMSIZ + 1];
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'a': opt.ns_a = optarg; break;
		case 'b': opt.ns_b = optarg; break;
		case 'd':
			if (strlen(optarg) >= IFNAMSIZ - 1)
				die("--dev %s: at most %d characters", optarg, IFNAMSIZ - 2);
			snprintf(opt.dev_prefix, sizeof opt.dev_prefix, "%s", optarg);
			break;
		case 'A': opt.dev_a = dev_name(optarg); break;
		case 'B': opt.dev_b = dev_name(optarg); break;
		case 't': opt.tap = true; break;
		case 'o': opt.offload = false; break;
		case 'r': opt.rtt_ms = num("rtt-ms", optarg, 0, 10000); break;
		case 'l': opt.loss_pct = num("loss", optarg, 0, 100); break;
		case 'R': opt.rate_mbit = num("rate-mbit", optarg, 0, 1e6); break;
		case 'L': opt.limit = (unsigned)num("limit", optarg, 1, 1e7); break;
		case 'q': opt.queue_bytes = (size_t)num("queue-mb", optarg, 1, 4096) << 20; break;
		case 's': opt.seed = (uint64_t)num("seed", optarg, 1, 1e18); break;
		case 'f': opt.stats_file = optarg; break;
		case 'c': opt.control = true; break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (optind != argc || !opt.ns_a || !opt.ns_b)
		usage(2);
	if (!opt.dev_a) {
		snprintf(name_a, sizeof name_a, "%sa", opt.dev_prefix);
		opt.dev_a = name_a;
	}
	if (!opt.dev_b) {
		snprintf(name_b, sizeof name_b, "%sb", opt.dev_prefix);
		opt.dev_b = name_b;
	}
	if (!strcmp(opt.ns_a, opt.ns_b) && !strcmp(opt.dev_a, opt.dev_b))
		die("both ends are %s in %s", opt.dev_a, opt.ns_a);
}

int main(int argc, char **argv)
{
	struct direction dirs[2] = { 0 };
	struct epoll_event ev[4];
	int ta, tb, ep, sfd;
	sigset_t mask;
	bool stop = false;

	parse(argc, argv);
	vnet_hdr_len = opt.offload ? sizeof(struct virtio_net_hdr) : 0;
	ta = tun_open_in(opt.ns_a, opt.dev_a);
	tb = tun_open_in(opt.ns_b, opt.dev_b);
	direction_init(&dirs[0], "a->b", ta, tb);
	direction_init(&dirs[1], "b->a", tb, ta);

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || ep < 0)
		die("signalfd/epoll: %s", strerror(errno));
	ev[0] = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 0 };
	ev[1] = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 1 };
	ev[2] = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 2 };
	ev[3] = (struct epoll_event){ .events = EPOLLIN, .data.u32 = 3 };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, ta, &ev[0]) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, tb, &ev[1]) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev[2]) < 0 ||
	    (opt.control && epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev[3]) < 0))
		die("epoll_ctl: %s", strerror(errno));
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

	printf("ready %s %s\n", opt.dev_a, opt.dev_b);	/* the harness configures them now */
	fflush(stdout);
	counters_restart(dirs);
	while (!stop) {
		uint64_t next = 0, t;
		struct timespec ts, *tsp = NULL;
		int n;

		for (int i = 0; i < 2; i++) {
			uint64_t due = send_due(&dirs[i]);

			if (due && (!next || due < next))
				next = due;
		}
		if (next) {
			t = now_ns();
			next = next > t ? next - t : 0;
			ts.tv_sec = (time_t)(next / 1000000000u);
			ts.tv_nsec = (long)(next % 1000000000u);
			tsp = &ts;
		}
		n = epoll_pwait2(ep, ev, 4, tsp, NULL);
		if (n < 0 && errno != EINTR)
			die("epoll_pwait2: %s", strerror(errno));
		wakeups++;
		for (int i = 0; i < n; i++) {
			switch (ev[i].data.u32) {
			case 0:
			case 1:
				on_readable(&dirs[ev[i].data.u32]);
				break;
			case 2:
				stop = true;
				break;
			default:
				if (!on_control(dirs))
					stop = true;
			}
		}
	}
	if (!opt.control || opt.stats_file)
		write_final_stats(dirs);
	return 0;
}
