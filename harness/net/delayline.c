/* delayline: a wire with a delay, between two network namespaces.
 *
 * The kernels we run on have no netem (CONFIG_NET_SCH_NETEM unset) and no fq
 * qdisc, so a round-trip time cannot be added with tc.  This program is the
 * wire instead: it opens a TUN device inside each of two namespaces, reads
 * every IP packet one side sends, holds it for half the round-trip time, and
 * writes it into the other side.  The two devices form a point-to-point link;
 * the harness gives them addresses and routes with `ip` once this program says
 * "ready".  The devices vanish when it exits, so nothing outlives a run.
 *
 * The link is a FIFO with a propagation delay and, optionally, a rate and a
 * loss probability -- netem's model:
 *
 *     departure = max(arrival + delay, previous departure + size / rate)
 *
 * with constant delay the departure times of one direction are in arrival
 * order, so each direction is a plain queue (a byte ring), and the only timer
 * is the head of the two queues.  It waits with epoll_pwait2's nanosecond
 * timeout and a 1 ns timer slack: a millisecond-granular wait would add up to
 * a millisecond of error to every packet.
 *
 * The wire costs CPU, and the run must say how much: at exit (SIGINT/SIGTERM)
 * it writes JSON with packets and bytes per direction, drops (loss, full
 * queue), its CPU time per packet, and its accuracy -- how late each packet
 * left compared with when it was due, as a histogram's p50/p99/max.
 *
 * With --tap the devices are TAP instead of TUN: Ethernet frames rather than
 * IP packets, so one end can join a bridge (a switch with several hosts behind
 * it) while the other is a host's own interface.
 *
 * usage: delayline --ns-a NS --ns-b NS [--dev NAME] [--tap] [--rtt-ms MS]
 *                  [--loss P] [--rate-mbit R] [--queue-mb MB] [--seed N]
 *                  [--stats-file PATH]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if.h>
#include <linux/if_tun.h>
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

#define MAX_PACKET	65535		/* IPv4's largest; the harness sets the MTU */
#define LATE_BUCKETS	64		/* lateness histogram: powers of two of ns */

struct record {				/* one packet in a queue, then its bytes */
	uint64_t due_ns;
	uint32_t len;
};

/* One direction of the wire: packets read from `in`, written to `out`. */
struct direction {
	const char *name;		/* "a->b" */
	int in, out;
	char *ring;			/* records, back to back, wrapping */
	size_t cap, head, tail, used;	/* byte offsets and fill */
	uint64_t last_departure_ns;
	uint64_t packets, bytes, lost, overflow, write_errors;
	uint64_t late[LATE_BUCKETS];	/* by floor(log2(lateness ns)) */
	uint64_t late_max_ns;
};

static struct {
	const char *ns_a, *ns_b, *dev, *stats_file;
	bool tap;
	double rtt_ms, loss, rate_mbit;
	size_t queue_bytes;
	uint64_t seed;
} opt = { .dev = "lbwire", .queue_bytes = 64u << 20, .seed = 1 };

static uint64_t rng_state;

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

/* xorshift64*: reproducible loss for a given --seed. */
static double uniform(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (double)((rng_state * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

/* A TUN device created inside namespace `ns` (the fd works from anywhere
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
	ifr.ifr_flags = (opt.tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI;	/* no extra header */
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die("creating %s in %s: %s", name, ns, strerror(errno));
	if (setns(self, CLONE_NEWNET) < 0)
		die("leaving namespace %s: %s", ns, strerror(errno));
	close(self);
	close(target);
	return fd;
}

static void ring_init(struct direction *d, const char *name, int in, int out)
{
	d->name = name;
	d->in = in;
	d->out = out;
	d->cap = opt.queue_bytes;
	d->ring = malloc(d->cap);
	if (!d->ring)
		die("out of memory for a %zu-byte queue", d->cap);
}

/* Records never wrap: one that would not fit before the end starts at 0 (the
 * bytes skipped count as used until the head passes them). */
static size_t record_size(uint32_t len)
{
	return (sizeof(struct record) + len + 7) & ~(size_t)7;
}

static bool ring_push(struct direction *d, const char *pkt, uint32_t len, uint64_t due)
{
	size_t need = record_size(len), at = d->tail, skip = 0;
	struct record r = { .due_ns = due, .len = len };

	if (at + need > d->cap) {		/* wrap to the start */
		skip = d->cap - at;
		at = 0;
	}
	if (d->used + skip + need > d->cap)
		return false;
	if (skip) {				/* mark the skipped tail */
		if (skip >= sizeof(struct record)) {
			struct record pad = { .due_ns = 0, .len = UINT32_MAX };
			memcpy(d->ring + d->tail, &pad, sizeof pad);
		}
		d->used += skip;
	}
	memcpy(d->ring + at, &r, sizeof r);
	memcpy(d->ring + at + sizeof r, pkt, len);
	d->tail = at + need;
	d->used += need;
	return true;
}

/* The record at the head, skipping a wrap marker; NULL when empty. */
static struct record *ring_head(struct direction *d)
{
	struct record *r;

	if (d->used == 0)
		return NULL;
	if (d->cap - d->head < sizeof(struct record) ||
	    ((struct record *)(void *)(d->ring + d->head))->len == UINT32_MAX) {
		d->used -= d->cap - d->head;
		d->head = 0;
		if (d->used == 0)
			return NULL;
	}
	r = (struct record *)(void *)(d->ring + d->head);
	return r;
}

static void ring_pop(struct direction *d, struct record *r)
{
	size_t n = record_size(r->len);

	d->head += n;
	d->used -= n;
	if (d->used == 0)
		d->head = d->tail = 0;
}

static uint64_t half_rtt_ns(void)
{
	return (uint64_t)(opt.rtt_ms * 1e6 / 2);
}

/* Reads what the device has (non-blocking) into the queue, each packet due at
 * its departure time under the link model above. */
static void on_readable(struct direction *d)
{
	char pkt[MAX_PACKET];

	for (;;) {
		ssize_t n = read(d->in, pkt, sizeof pkt);
		uint64_t t, due;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;		/* EAGAIN: drained */
		t = now_ns();
		if (opt.loss > 0 && uniform() < opt.loss) {
			d->lost++;
			continue;
		}
		due = t + half_rtt_ns();
		if (opt.rate_mbit > 0) {
			uint64_t tx_ns = (uint64_t)((double)n * 8 * 1000 / opt.rate_mbit);
			uint64_t start = d->last_departure_ns > t ? d->last_departure_ns : t;

			if (start + tx_ns + half_rtt_ns() > due)
				due = start + tx_ns + half_rtt_ns();
			d->last_departure_ns = start + tx_ns;
		}
		if (!ring_push(d, pkt, (uint32_t)n, due))
			d->overflow++;
	}
}

static int log2_floor(uint64_t v)
{
	return v ? 63 - __builtin_clzll(v) : 0;
}

/* Writes every packet that is due; returns the next due time (0: none). */
static uint64_t send_due(struct direction *d)
{
	struct record *r;

	while ((r = ring_head(d)) != NULL) {
		uint64_t t = now_ns(), late;
		ssize_t w;

		if (r->due_ns > t)
			return r->due_ns;
		late = t - r->due_ns;
		d->late[log2_floor(late)]++;
		if (late > d->late_max_ns)
			d->late_max_ns = late;
		do
			w = write(d->out, (char *)(r + 1), r->len);
		while (w < 0 && errno == EINTR);
		if (w < 0)		/* the receiving side's queue is full: a drop */
			d->write_errors++;
		else {
			d->packets++;
			d->bytes += r->len;
		}
		ring_pop(d, r);
	}
	return 0;
}

/* Lateness percentile from the power-of-two histogram: the upper edge of the
 * bucket holding it, in microseconds (an upper bound, never an underestimate). */
static double late_pct_us(const struct direction *d, double q)
{
	uint64_t total = 0, seen = 0;

	for (int i = 0; i < LATE_BUCKETS; i++)
		total += d->late[i];
	if (!total)
		return 0;
	for (int i = 0; i < LATE_BUCKETS; i++) {
		seen += d->late[i];
		if ((double)seen >= q * (double)total) {
			uint64_t edge = 2ull << i;

			return (double)(edge < d->late_max_ns ? edge : d->late_max_ns) / 1000.0;
		}
	}
	return (double)d->late_max_ns / 1000.0;
}

static void write_stats(struct direction dirs[2], double wall_s)
{
	struct rusage ru;
	FILE *f = opt.stats_file ? fopen(opt.stats_file, "w") : stdout;
	uint64_t packets = dirs[0].packets + dirs[1].packets;
	double cpu;

	if (!f)
		die("%s: %s", opt.stats_file, strerror(errno));
	getrusage(RUSAGE_SELF, &ru);
	cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	      (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	fprintf(f, "{\"schema\":1,\"mechanism\":\"delayline\",\"rtt_ms\":%g,\"loss\":%g,"
		"\"rate_mbit\":%g,\"wall_s\":%.3f,\"cpu_s\":%.6f,"
		"\"cpu_ns_per_packet\":%.1f,\"directions\":{",
		opt.rtt_ms, opt.loss, opt.rate_mbit, wall_s, cpu,
		packets ? cpu * 1e9 / (double)packets : 0.0);
	for (int i = 0; i < 2; i++)
		fprintf(f, "%s\"%s\":{\"packets\":%llu,\"bytes\":%llu,\"lost\":%llu,"
			"\"overflow\":%llu,\"write_errors\":%llu,\"late_us\":{\"p50\":%.1f,"
			"\"p99\":%.1f,\"max\":%.1f}}", i ? "," : "", dirs[i].name,
			(unsigned long long)dirs[i].packets, (unsigned long long)dirs[i].bytes,
			(unsigned long long)dirs[i].lost, (unsigned long long)dirs[i].overflow,
			(unsigned long long)dirs[i].write_errors, late_pct_us(&dirs[i], 0.5),
			late_pct_us(&dirs[i], 0.99), (double)dirs[i].late_max_ns / 1000.0);
	fprintf(f, "}}\n");
	if (f != stdout)
		fclose(f);
}

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: delayline --ns-a NS --ns-b NS [--dev NAME] [--tap] [--rtt-ms MS]\n"
		"                 [--loss P] [--rate-mbit R] [--queue-mb MB] [--seed N]\n"
		"                 [--stats-file PATH]\n"
		"Creates a TUN (--tap: TAP) device NAMEa in namespace A and NAMEb in B,\n"
		"prints \"ready NAMEa NAMEb\", and forwards packets between them, each held\n"
		"for half of --rtt-ms, until SIGINT/SIGTERM; then writes its counters, CPU\n"
		"cost and lateness as JSON (--stats-file, else stdout).\n");
	exit(code);
}

static double num(const char *name, const char *v, double lo, double hi)
{
	char *end;
	double x = strtod(v, &end);

	if (end == v || *end || x < lo || x > hi)
		die("--%s %s: expected a number in [%g, %g]", name, v, lo, hi);
	return x;
}

static void parse(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "ns-a", 1, 0, 'a' }, { "ns-b", 1, 0, 'b' }, { "dev", 1, 0, 'd' },
		{ "tap", 0, 0, 't' },
		{ "rtt-ms", 1, 0, 'r' }, { "loss", 1, 0, 'l' }, { "rate-mbit", 1, 0, 'R' },
		{ "queue-mb", 1, 0, 'q' }, { "seed", 1, 0, 's' },
		{ "stats-file", 1, 0, 'f' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'a': opt.ns_a = optarg; break;
		case 'b': opt.ns_b = optarg; break;
		case 'd':
			if (strlen(optarg) >= IFNAMSIZ - 2)
				die("--dev %s: at most %d characters", optarg, IFNAMSIZ - 3);
			opt.dev = optarg;
			break;
		case 't': opt.tap = true; break;
		case 'r': opt.rtt_ms = num("rtt-ms", optarg, 0, 10000); break;
		case 'l': opt.loss = num("loss", optarg, 0, 1); break;
		case 'R': opt.rate_mbit = num("rate-mbit", optarg, 0, 1e6); break;
		case 'q': opt.queue_bytes = (size_t)num("queue-mb", optarg, 1, 4096) << 20; break;
		case 's': opt.seed = (uint64_t)num("seed", optarg, 1, 1e18); break;
		case 'f': opt.stats_file = optarg; break;
		case 'h': usage(0); break;
		default: usage(2);
		}
	}
	if (optind != argc || !opt.ns_a || !opt.ns_b)
		usage(2);
	rng_state = opt.seed;
}

int main(int argc, char **argv)
{
	struct direction dirs[2] = { 0 };
	struct epoll_event ev[4];
	char name_a[IFNAMSIZ], name_b[IFNAMSIZ];
	int ta, tb, ep, sfd;
	sigset_t mask;
	uint64_t t0;
	bool stop = false;

	parse(argc, argv);
	snprintf(name_a, sizeof name_a, "%sa", opt.dev);
	snprintf(name_b, sizeof name_b, "%sb", opt.dev);
	ta = tun_open_in(opt.ns_a, name_a);
	tb = tun_open_in(opt.ns_b, name_b);
	ring_init(&dirs[0], "a->b", ta, tb);
	ring_init(&dirs[1], "b->a", tb, ta);

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || ep < 0)
		die("signalfd/epoll: %s", strerror(errno));
	ev[0] = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &dirs[0] };
	ev[1] = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &dirs[1] };
	ev[2] = (struct epoll_event){ .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, ta, &ev[0]) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, tb, &ev[1]) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev[2]) < 0)
		die("epoll_ctl: %s", strerror(errno));
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

	printf("ready %s %s\n", name_a, name_b);	/* the harness configures them now */
	fflush(stdout);
	t0 = now_ns();
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
		for (int i = 0; i < n; i++) {
			if (ev[i].data.ptr)
				on_readable(ev[i].data.ptr);
			else
				stop = true;
		}
	}
	write_stats(dirs, (double)(now_ns() - t0) / 1e9);
	return 0;
}
