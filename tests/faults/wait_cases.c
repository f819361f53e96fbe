/* A client that resets while 1,000 of its requests wait (/sleep): the server
 * must take it in its stride -- keep serving, count the resets as the
 * client's doing (never as server errors), leak nothing, and spend nothing on
 * the waits of a client that is gone.
 *
 * How soon the descriptors come back is the lesson of each model, so it is
 * asserted per model:
 * - event models see each reset at once (the socket reports an error while its
 *   timer runs): every descriptor is back before the sleeps would have ended,
 *   and no CPU is spent when their deadlines pass (the timers were stopped);
 * - threads sleep on in 1,000 threads and find the reset at their write, so the
 *   descriptors come back once the sleeps end; prefork the same in 1,000
 *   worker processes (started with --procs 1000: with its default 64, the
 *   first clients' sleeps could end before the last clients had connected);
 * - pool serves 64 connections at a time, and a reset connection still has its
 *   request in the socket buffer: each is read, slept and written in turn
 *   (shorter sleeps keep this case short: 1,000 / 64 rounds);
 * - iterative does the same one at a time (1 ms sleeps: it holds only the
 *   first connection when the resets come, its sleep already answered). */
#include "faults.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENTS 1000
#define PROCS "1000"	/* prefork: a worker process per client */

/* How long each request sleeps: long where the waits run side by side, short
 * where the model serves them a few at a time. */
static int sleep_ms_for_model(bool *side_by_side)
{
	*side_by_side = !fcfg.serializes && strcmp(fcfg.model, "pool") != 0;	/* prefork: PROCS */
	if (fcfg.serializes)
		return 1;
	if (!*side_by_side)
		return 200;
	return 3000;
}

static void test_reset_while_1000_sleep(void)
{
	bool side_by_side;
	int ms = sleep_ms_for_model(&side_by_side);
	char req[64];
	static const char *const procs_args[] = { "--procs", PROCS, NULL };
	struct child c = { 0 };
	int *fd = calloc(CLIENTS, sizeof *fd), base, held, fds;
	char *stats = NULL;
	uint64_t t0, t_reset, t_free;
	double cpu0, cpu1;

	REQUIRE(fd != NULL);
	for (int i = 0; i < CLIENTS; i++)
		fd[i] = -1;
	snprintf(req, sizeof req, "GET /sleep?ms=%d HTTP/1.1\r\nHost: t\r\n\r\n", ms);
	REQUIRE(f_start(&c, "http", fcfg.procs ? procs_args : NULL, NULL) == 0);
	base = settled_fds(&c);
	REQUIRE(base > 0);

	t0 = now_ms();
	for (int i = 0; i < CLIENTS; i++) {
		fd[i] = cl_connect(c.port, 0, F_IO_MS);
		REQUIRE(fd[i] >= 0);
		REQUIRE(cl_send_all(fd[i], req, strlen(req), F_IO_MS) == 0);
	}
	/* The server holds them all (iterative: the one it serves). */
	{
		int want = base + (fcfg.serializes ? 1 : CLIENTS);
		uint64_t end = now_ms() + F_IO_MS;

		while ((held = proc_fds(c.pid)) < want && now_ms() < end)
			sleep_ms(20);
		REQUIRE(held >= want);
	}
	sleep_ms(100);		/* the last requests have been read */
	for (int i = 0; i < CLIENTS; i++) {
		cl_reset(fd[i]);
		fd[i] = -1;
	}
	t_reset = now_ms();

	/* Event models: every descriptor back before the sleeps would end.
	 * The others: once the sleeps they took on are over. */
	{
		int limit = side_by_side && fcfg.event ? (int)(t0 + (uint64_t)ms - now_ms())
			    : (fcfg.serializes ? CLIENTS * 20 : ms * (CLIENTS / 64 + 1) * 3) + ms + F_IO_MS;

		fds = wait_fds_at_most(c.pid, base, limit > 0 ? limit : 0);
	}
	t_free = now_ms();
	printf("\n    %d clients reset while /sleep?ms=%d waited: server descriptors %d before, %d held, %d "
	       "%llu ms after the resets", CLIENTS, ms, base, held, fds,
	       (unsigned long long)(t_free - t_reset));
	CU_ASSERT(fds <= base);
	if (fcfg.event && fds <= base && t_free >= t0 + (uint64_t)ms)
		fprintf(stderr, "\n    %s: the descriptors came back only when the sleeps ended: the "
			"timers outlived their connections\n", fcfg.model);

	/* The next client is served. */
	CU_ASSERT(get_status(c.port, "/", 200, F_IO_MS + ms) == 0);

	/* No CPU when the deadlines of the stopped timers pass. */
	if (fcfg.event) {
		uint64_t after = t0 + (uint64_t)ms + 500;

		cpu0 = proc_cpu_s(c.pid);
		while (now_ms() < after)
			sleep_ms(20);
		cpu1 = proc_cpu_s(c.pid);
		printf("; CPU %.2f s while the 1,000 deadlines passed", cpu1 - cpu0);
		CU_ASSERT(cpu0 >= 0 && cpu1 - cpu0 < 0.2);
	}

	bool stopped = f_stop(&c, "reset while sleeping");
	CU_ASSERT(stopped);
	stats = read_text(c.stats_path);
	REQUIRE(stats != NULL);
	printf("; stats accepted %lld, requests %lld, errors %lld, resets %lld, waits_cut %lld",
	       json_num(stats, "accepted"), json_num(stats, "requests"), json_num(stats, "errors"),
	       json_num(stats, "resets"), json_num(stats, "waits_cut"));
	CU_ASSERT_EQUAL(json_num(stats, "waits_cut"), 0);
	if (fcfg.exact) {
		/* Ours: the settling GET / and the one after; iterative also
		 * answered the first client, whose 1 ms sleep was over before
		 * the resets.  Nothing was written to a client that was gone. */
		CU_ASSERT_EQUAL(json_num(stats, "accepted"), CLIENTS + 2);
		CU_ASSERT_EQUAL(json_num(stats, "requests"), fcfg.serializes ? 3 : 2);
		CU_ASSERT_EQUAL(json_num(stats, "errors"), 0);
		CU_ASSERT_EQUAL(json_num(stats, "resets"), CLIENTS);
	}
out:
	if (fd)
		for (int i = 0; i < CLIENTS; i++)
			if (fd[i] >= 0)
				close(fd[i]);
	child_stop(&c, F_STOP_MS);
	free(fd);
	free(stats);
}

void register_wait_fault_suites(void)
{
	CU_pSuite s = CU_add_suite("faults while requests wait", NULL, NULL);

	CU_add_test(s, "a client resets while 1,000 of its requests sleep", test_reset_while_1000_sleep);
}
