/* The one-screen equivalence check: the same requests, good and bad, to every
 * model given on the command line, one table.
 *
 *   equivalence [--cpu-iters-per-us K] build/srv-iterative build/srv-epoll ... build/srv-node
 *
 * The first C model is the reference.  A C model's cell is "=" when its answer is
 * byte-for-byte the reference's; node's is "~" when status, Content-Type and body
 * match (status alone for malformed input: the contract's rule for node), "=" if it
 * even matches byte for byte.  Anything else is "DIFF" and the exit status is 1.
 * Every server gets the same --cpu-iters-per-us, so /cpu checksums must agree.
 *
 * /db and /queries return random rows: their answers are compared by shape,
 * with every run of digits (ids, numbers, Content-Length) read as one '#'.
 * They need the database in $LOOPBENCH_DB (make equivalence runs this under
 * harness/pg); the 503 probe runs on a second instance without --db.
 *
 * One more row is about waiting, not bytes: a GET / sent 20 ms after another
 * connection's GET /sleep?ms=500.  Every model that serves connections at once
 * answers the GET / first ("first"); iterative, which serves one connection at
 * a time, makes it wait ("after").  Any other outcome is DIFF. */
#include "conf.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IO_MS 10000
#define MAX_MODELS 12

struct probe {
	const char *label;
	const char *req;	/* NULL: built at run time (the 431 case) */
	bool head;		/* a HEAD request: no body in the answer */
	bool malformed;		/* node is compared on status alone */
};

static const struct probe probes[] = {
	{ "GET /", "GET / HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "GET /cpu?us=1000", "GET /cpu?us=1000 HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "GET /cpu?us=12345", "GET /cpu?us=12345 HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "GET /block?us=1000", "GET /block?us=1000 HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "GET /sleep?ms=10", "GET /sleep?ms=10 HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "GET /sleep?ms=60001 (400)", "GET /sleep?ms=60001 HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "POST /sleep (405)", "POST /sleep?ms=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", false, false },
	{ "GET /bytes?n=16", "GET /bytes?n=16 HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "POST /echo (length)", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world", false, false },
	{ "POST /echo (chunked)", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
	  "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", false, false },
	{ "POST /echo (Expect)", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nhi",
	  false, false },
	{ "GET / HTTP/1.0", "GET / HTTP/1.0\r\n\r\n", false, false },
	{ "GET / HTTP/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false, false },
	{ "GET / Connection: close", "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", false, false },
	{ "GET /nope (404)", "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "POST / (405)", "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", false, false },
	{ "GET /echo (405)", "GET /echo HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "HEAD / (405)", "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n", true, false },
	{ "GET /cpu?us=abc (400)", "GET /cpu?us=abc HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "GET /bytes?n=67108865", "GET /bytes?n=67108865 HTTP/1.1\r\nHost: t\r\n\r\n", false, false },
	{ "malformed: GARBAGE", "GARBAGE\r\n\r\n", false, true },
	{ "malformed: bad chunk", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
	  false, true },
	{ "malformed: no Host", "GET / HTTP/1.1\r\n\r\n", false, true },
	{ "malformed: obs-fold", "POST /echo HTTP/1.1\r\nHost: t\r\nX: y\r\n Content-Length: 5\r\n\r\nhello",
	  false, true },
	{ "malformed: CR LF CR X", "GET / HTTP/1.1\r\nHost: t\r\n\rXGET /nope HTTP/1.1\r\nHost: t\r\n\r\n",
	  false, true },
	{ "10 KiB header (431)", NULL, false, false },
};

/* /db and /queries: rows > 0 is how many rows the answer holds (compared by
 * shape); nodb asks the instance started without --db. */
static const struct db_probe {
	struct probe p;
	int rows;
	bool nodb;
} db_probes[] = {
	{ { "GET /db", "GET /db HTTP/1.1\r\nHost: t\r\n\r\n", false, false }, 1, false },
	{ { "GET /queries?n=3", "GET /queries?n=3 HTTP/1.1\r\nHost: t\r\n\r\n", false, false }, 3, false },
	{ { "GET /queries?n=abc", "GET /queries?n=abc HTTP/1.1\r\nHost: t\r\n\r\n", false, false }, 1, false },
	{ { "GET /queries?n=501", "GET /queries?n=501 HTTP/1.1\r\nHost: t\r\n\r\n", false, false }, 500, false },
	{ { "POST /db (405)", "POST /db HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", false, false }, 0, false },
	{ { "GET /db, no --db (503)", "GET /db HTTP/1.1\r\nHost: t\r\n\r\n", false, false }, 0, true },
};

#define NPLAIN (sizeof(probes) / sizeof(probes[0]))
#define NPROBES (NPLAIN + sizeof(db_probes) / sizeof(db_probes[0]))

/* Probe i of both tables; *rows and *nodb as in struct db_probe. */
static const struct probe *probe_at(size_t i, int *rows, bool *nodb)
{
	*rows = 0;
	*nodb = false;
	if (i < NPLAIN)
		return &probes[i];
	*rows = db_probes[i - NPLAIN].rows;
	*nodb = db_probes[i - NPLAIN].nodb;
	return &db_probes[i - NPLAIN].p;
}

struct answer {
	struct hresp r;		/* the final response (after a 100) */
	char *raw;		/* every byte received for it, 100 included */
	size_t raw_len;
	bool ok;		/* a response was read */
};

static struct answer answers[MAX_MODELS][NPROBES];

/* The waiting row: 1 the GET / came first, 0 after the sleep, -1 no answer. */
static int hello_first[MAX_MODELS];

static char *big_header_request(size_t *len)
{
	char *req = malloc(16384);
	size_t n;

	if (req == NULL)
		exit(1);
	n = (size_t)sprintf(req, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ");
	memset(req + n, 'a', 10240);
	n += 10240;
	n += (size_t)sprintf(req + n, "\r\n\r\n");
	*len = n;
	return req;
}

static void ask(int port, const struct probe *p, struct answer *a)
{
	struct hconn h;
	size_t len;
	char *big = NULL;
	const char *req = p->req;

	memset(a, 0, sizeof(*a));
	if (req == NULL)
		req = big = big_header_request(&len);
	else
		len = strlen(req);
	if (hconn_open(&h, port, IO_MS) < 0)
		goto out;
	if (cl_send_all(h.fd, req, len, IO_MS) < 0)
		goto out;
	for (;;) {
		struct hresp r;
		char *raw;

		if (hconn_read(&h, &r, p->head, IO_MS) < 0)
			goto out;
		raw = realloc(a->raw, a->raw_len + r.raw_len);
		if (raw == NULL)
			exit(1);
		memcpy(raw + a->raw_len, r.raw, r.raw_len);
		a->raw = raw;
		a->raw_len += r.raw_len;
		if (r.status != 100) {
			a->r = r;
			a->ok = true;
			break;
		}
		hresp_free(&r);
	}
out:
	hconn_close(&h);
	free(big);
}

/* GET /sleep?ms=500 on one connection, GET / on another 20 ms later: which
 * is answered first?  (Iterative answers the second only once the first
 * closes, so the first is closed after its answer.) */
static int ask_ordering(int port)
{
	static const char sleep_req[] = "GET /sleep?ms=500 HTTP/1.1\r\nHost: t\r\n\r\n";
	static const char get[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	struct hconn a, b;
	struct hresp r;
	int first = -1;

	if (hconn_open(&a, port, IO_MS) < 0)
		return -1;
	if (hconn_open(&b, port, IO_MS) < 0) {
		hconn_close(&a);
		return -1;
	}
	if (cl_send_all(a.fd, sleep_req, strlen(sleep_req), IO_MS) == 0) {
		sleep_ms(20);
		if (cl_send_all(b.fd, get, strlen(get), IO_MS) == 0) {
			struct pollfd p[2] = { { .fd = a.fd, .events = POLLIN }, { .fd = b.fd, .events = POLLIN } };

			/* Both ready when poll returns: the sleep's answer is in,
			 * so the GET / did not come first. */
			if (poll(p, 2, IO_MS) > 0)
				first = p[1].revents && !p[0].revents ? 1 : 0;
		}
	}
	if (hconn_read(&a, &r, false, IO_MS) == 0)
		hresp_free(&r);
	hconn_close(&a);
	if (hconn_read(&b, &r, false, IO_MS) == 0)
		hresp_free(&r);
	else
		first = -1;
	hconn_close(&b);
	return first;
}

/* p[0, n) with every run of digits made one '#' (malloc'd, *len set). */
static char *shape(const char *p, size_t n, size_t *len)
{
	char *s = malloc(n + 1), *o = s;

	if (s == NULL)
		exit(1);
	for (size_t i = 0; i < n; i++) {
		bool digit = p[i] >= '0' && p[i] <= '9';
		if (!digit)
			*o++ = p[i];
		else if (i == 0 || p[i - 1] < '0' || p[i - 1] > '9')
			*o++ = '#';
	}
	*len = (size_t)(o - s);
	return s;
}

static bool same_bytes(const char *a, size_t alen, const char *b, size_t blen, bool random)
{
	size_t sa, sb;
	char *x, *y;
	bool same;

	if (!random)
		return alen == blen && memcmp(a, b, alen) == 0;
	x = shape(a, alen, &sa);
	y = shape(b, blen, &sb);
	same = sa == sb && memcmp(x, y, sa) == 0;
	free(x);
	free(y);
	return same;
}

static bool exact_equal(const struct answer *a, const struct answer *ref, bool random)
{
	return same_bytes(a->raw, a->raw_len, ref->raw, ref->raw_len, random);
}

static bool loose_equal(const struct answer *a, const struct answer *ref, bool malformed,
			bool random)
{
	if (a->r.status != ref->r.status)
		return false;
	if (malformed)
		return true;
	return strcmp(a->r.ctype, ref->r.ctype) == 0 &&
	       same_bytes(a->r.body, a->r.body_len, ref->r.body, ref->r.body_len, random);
}

/* Starts bin (with the database or without) and asks it the probes that
 * belong to that instance. */
static void ask_all(const char *bin, const char *k, const char *db, int m)
{
	const char *args[] = { "--proto", "http", "--cpu-iters-per-us", k, "--db", db, NULL };
	struct child c;

	if (db == NULL)
		args[4] = NULL;
	if (child_start(&c, bin, args, 20000) < 0) {
		fprintf(stderr, "equivalence: %s does not start\n", bin);
		return;
	}
	for (size_t p = 0; p < NPROBES; p++) {
		int rows;
		bool nodb;
		const struct probe *pr = probe_at(p, &rows, &nodb);

		if (nodb == (db == NULL))
			ask(c.port, pr, &answers[m][p]);
	}
	if (db != NULL)
		hello_first[m] = ask_ordering(c.port);
	if (child_stop(&c, 20000) != 0)
		fprintf(stderr, "equivalence: %s did not exit 0 after SIGTERM\n", bin);
}

static const char *model_name(const char *bin)
{
	const char *b = strrchr(bin, '/');

	b = b ? b + 1 : bin;
	return strncmp(b, "srv-", 4) == 0 ? b + 4 : b;
}

int main(int argc, char **argv)
{
	const char *bins[MAX_MODELS], *k = "100", *db = getenv("LOOPBENCH_DB");
	int nbins = 0, ref = -1, diffs = 0;

	signal(SIGPIPE, SIG_IGN);
	atexit(child_stop_all);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--cpu-iters-per-us") == 0 && i + 1 < argc)
			k = argv[++i];
		else if (argv[i][0] == '-' || nbins == MAX_MODELS) {
			fprintf(stderr, "usage: equivalence [--cpu-iters-per-us K] SERVER...\n");
			return 2;
		} else
			bins[nbins++] = argv[i];
	}
	if (nbins == 0) {
		fprintf(stderr, "usage: equivalence [--cpu-iters-per-us K] SERVER...\n");
		return 2;
	}
	if (db == NULL || !*db) {
		fprintf(stderr, "equivalence: $LOOPBENCH_DB is unset: the /db probes get no answer "
			"(make equivalence runs this under harness/pg)\n");
		db = "postgresql://127.0.0.1:1/none?sslmode=disable";
	}
	for (int m = 0; m < nbins; m++) {
		if (ref < 0 && strcmp(model_name(bins[m]), "node") != 0)
			ref = m;
		hello_first[m] = -1;	/* no answer, unless the instance starts */
		ask_all(bins[m], k, db, m);
		ask_all(bins[m], k, NULL, m);
	}
	if (ref < 0)
		ref = 0;

	printf("Equivalence: the same %zu requests to every model (--cpu-iters-per-us %s).\n", NPROBES, k);
	printf("Reference: %s.  '=' byte-for-byte identical, '~' same status, Content-Type and body\n"
	       "(node; status alone for malformed input), DIFF otherwise, '-' no answer.\n\n",
	       model_name(bins[ref]));
	printf("%-26s %-14s", "request", "reference");
	for (int m = 0; m < nbins; m++)
		printf(" %-9.9s", model_name(bins[m]));
	printf("\n");
	for (size_t p = 0; p < NPROBES; p++) {
		const struct answer *ra = &answers[ref][p];
		int rows;
		bool nodb;
		const struct probe *pr = probe_at(p, &rows, &nodb);
		char what[32];

		if (!ra->ok)
			snprintf(what, sizeof(what), "no answer");
		else if (strncmp(pr->label, "GET /cpu?us=", 12) == 0 && ra->r.status == 200) {
			/* The checksum must also be the contract's FNV-1a of N x K. */
			char sum[16];

			snprintf(sum, sizeof(sum), "%08x",
				 fnv_units(strtoull(pr->label + 12, NULL, 10) * strtoull(k, NULL, 10)));
			if (ra->r.body_len != 8 || memcmp(ra->r.body, sum, 8) != 0) {
				printf("(reference checksum %.8s is not FNV-1a's %s)\n", ra->r.body, sum);
				diffs++;
			}
			snprintf(what, sizeof(what), "200 %.8s", ra->r.body);
		}
		else if (rows > 0) {
			/* The reference must have answered with rows, not 503. */
			int n = 0;

			for (const char *q = ra->r.body; ra->r.status == 200 &&
			     (q = memmem(q, ra->r.body_len - (size_t)(q - ra->r.body), "{\"id\":", 6)); q++)
				n++;
			if (n != rows) {
				printf("(reference: %d rows for %s, not %d)\n", n, pr->label, rows);
				diffs++;
			}
			snprintf(what, sizeof(what), "%d %d rows", ra->r.status, n);
		}
		else
			snprintf(what, sizeof(what), "%d", ra->r.status);
		printf("%-26s %-14s", pr->label, what);
		for (int m = 0; m < nbins; m++) {
			const struct answer *a = &answers[m][p];
			const char *cell;
			bool node = strcmp(model_name(bins[m]), "node") == 0;

			if (!a->ok)
				cell = "-";
			else if (ra->ok && exact_equal(a, ra, rows > 0))
				cell = "=";
			else if (node && ra->ok && loose_equal(a, ra, pr->malformed, rows > 0))
				cell = "~";
			else
				cell = "DIFF";
			if (strcmp(cell, "=") != 0 && strcmp(cell, "~") != 0)
				diffs++;
			printf(" %-9s", cell);
		}
		printf("\n");
	}
	printf("%-26s %-14s", "GET / beside a /sleep", "(see below)");
	for (int m = 0; m < nbins; m++) {
		bool serial = strcmp(model_name(bins[m]), "iterative") == 0;
		int want = serial ? 0 : 1;
		const char *cell = hello_first[m] < 0 ? "-" : hello_first[m] == want ?
				   (want ? "first" : "after") : "DIFF";

		if (hello_first[m] != want)
			diffs++;
		printf(" %-9s", cell);
	}
	printf("\n\nGET / beside a /sleep: a GET / sent 20 ms after another connection's\n"
	       "GET /sleep?ms=500 is answered first on every model that serves connections at\n"
	       "once (an event loop keeps serving while a request waits; threads and pool give\n"
	       "it a thread of its own); iterative makes it wait until the first connection\n"
	       "closes.  Anything else is DIFF.\n");
	printf("\n%s\n", diffs ? "equivalence: models DIFFER (see the cells marked DIFF or -)" :
	       "equivalence: every model answers as the contract allows");
	if (diffs) {
		/* Show what differs, so the table is enough to file a bug. */
		for (size_t p = 0; p < NPROBES; p++) {
			int rows;
			bool nodb;
			const struct probe *pr = probe_at(p, &rows, &nodb);

			for (int m = 0; m < nbins; m++) {
				const struct answer *a = &answers[m][p], *ra = &answers[ref][p];
				bool node = strcmp(model_name(bins[m]), "node") == 0;

				if (a->ok && ra->ok && (exact_equal(a, ra, rows > 0) ||
							(node && loose_equal(a, ra, pr->malformed, rows > 0))))
					continue;
				printf("  %s, %s:\n", pr->label, model_name(bins[m]));
				fflush(stdout);
				show_bytes("reference", ra->raw, ra->ok ? ra->raw_len : 0, 300);
				show_bytes("got      ", a->raw, a->ok ? a->raw_len : 0, 300);
			}
		}
	}
	for (int m = 0; m < nbins; m++)
		for (size_t p = 0; p < NPROBES; p++) {
			free(answers[m][p].raw);
			hresp_free(&answers[m][p].r);
		}
	return diffs ? 1 : 0;
}
