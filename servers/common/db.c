/* TechEmpower's database routes: clamping, ids, JSON (see db.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "db.h"

unsigned db_queries_count(const char *query, size_t len, const char *key)
{
	size_t klen = strlen(key);
	const char *end = query + len;

	while (query < end) {
		const char *amp = memchr(query, '&', (size_t)(end - query));
		const char *pe = amp ? amp : end;

		if ((size_t)(pe - query) >= klen + 1 && memcmp(query, key, klen) == 0 &&
		    query[klen] == '=') {
			const char *v = query + klen + 1;
			bool negative = v < pe && *v == '-';
			unsigned n = 0;

			if (negative)
				v++;
			if (v == pe)
				return 1;		/* empty, or "-" alone */
			for (; v < pe; v++) {
				if (*v < '0' || *v > '9')
					return 1;	/* abc, 12abc, +5, 1.5 */
				if (n <= DB_MAX_QUERIES)	/* saturate: no overflow */
					n = n * 10 + (unsigned)(*v - '0');
			}
			if (negative || n == 0)
				return 1;
			return n > DB_MAX_QUERIES ? DB_MAX_QUERIES : n;
		}
		query = amp ? amp + 1 : end;
	}
	return 1;	/* missing */
}

/* ---- ids: one generator per thread, so no lock on the request path ---- */

static _Thread_local uint64_t rng_state;
static _Thread_local bool rng_seeded;

void db_random_seed(uint64_t seed)
{
	rng_state = seed;
	rng_seeded = true;
}

/* Seeded from the kernel; if getrandom fails (it does not block for 8 bytes
 * once the system is up), from the clock and the thread: the ids need to be
 * spread, not secret. */
static void rng_seed_once(void)
{
	uint64_t seed;

	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
		       (uint64_t)(uintptr_t)&rng_state ^ (uint64_t)pthread_self();
	}
	db_random_seed(seed);
}

/* splitmix64 (Steele, Lea, Flood 2014): small state, passes BigCrush. */
static uint64_t rng_next(void)
{
	uint64_t z;

	if (!rng_seeded)
		rng_seed_once();
	z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Lemire's multiply-and-shift with rejection: exactly uniform, and the
 * rejection (probability 10000 / 2^32) almost never runs. */
int32_t db_random_id(void)
{
	const uint32_t range = DB_ROWS;
	uint64_t m = (uint64_t)(uint32_t)(rng_next() >> 32) * range;

	if ((uint32_t)m < range) {
		uint32_t threshold = (uint32_t)-range % range;
		while ((uint32_t)m < threshold)
			m = (uint64_t)(uint32_t)(rng_next() >> 32) * range;
	}
	return (int32_t)(m >> 32) + 1;
}

/* ---- the query ---- */

int db_query_init(struct db_query *q, unsigned n, bool array)
{
	db_query_release(q);
	if (n == 0 || n > DB_MAX_QUERIES)
		n = n == 0 ? 1 : DB_MAX_QUERIES;
	if (n == 1) {
		q->rows = &q->one;
	} else {
		q->rows = malloc(n * sizeof *q->rows);
		if (!q->rows)
			return -ENOMEM;
	}
	q->n = n;
	q->array = array;
	q->failed = false;
	q->owner = NULL;
	q->next = NULL;
	q->answered = 0;
	for (unsigned i = 0; i < n; i++) {
		q->rows[i].id = db_random_id();
		q->rows[i].number = 0;
	}
	return 0;
}

void db_query_release(struct db_query *q)
{
	if (q->rows && q->rows != &q->one)
		free(q->rows);
	q->rows = NULL;
	q->n = 0;
}

/* ---- JSON ---- */

static const char OBJ_ID[] = "{\"id\":";
static const char OBJ_NUMBER[] = ",\"randomNumber\":";

static size_t i32_len(int32_t v)
{
	uint32_t u = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
	size_t n = v < 0 ? 2 : 1;

	while (u >= 10) {
		u /= 10;
		n++;
	}
	return n;
}

static char *put_i32(char *p, int32_t v)
{
	uint32_t u = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
	char tmp[10];
	int n = 0;

	if (v < 0)
		*p++ = '-';
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static size_t row_len(const struct db_row *r)
{
	return sizeof OBJ_ID - 1 + i32_len(r->id) + sizeof OBJ_NUMBER - 1 +
	       i32_len(r->number) + 1;
}

size_t db_json_len(const struct db_query *q)
{
	size_t len = q->array ? 2 + (q->n - 1) : 0;	/* brackets, commas */

	for (unsigned i = 0; i < q->n; i++)
		len += row_len(&q->rows[i]);
	return len;
}

size_t db_json(const struct db_query *q, char *buf)
{
	char *p = buf;

	if (q->array)
		*p++ = '[';
	for (unsigned i = 0; i < q->n; i++) {
		if (i > 0)
			*p++ = ',';
		memcpy(p, OBJ_ID, sizeof OBJ_ID - 1);
		p = put_i32(p + sizeof OBJ_ID - 1, q->rows[i].id);
		memcpy(p, OBJ_NUMBER, sizeof OBJ_NUMBER - 1);
		p = put_i32(p + sizeof OBJ_NUMBER - 1, q->rows[i].number);
		*p++ = '}';
	}
	if (q->array)
		*p++ = ']';
	return (size_t)(p - buf);
}
