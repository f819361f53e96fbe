'use strict';
// srv-node: the reference server, in the system the claims are about (docs/contract.md, "Servers").
//
// Node's own `http` and `net` modules, which is what Node users run, with the same
// routes, statuses, bodies, limits and command line as the C models.  Node's http
// module adds `Connection: keep-alive` to HTTP/1.1 responses and answers some
// malformed input differently (llhttp), so the conformance suite and the
// equivalence check compare node on status, Content-Type and body only.
//
// Where Node and the C models differ by design, and what this file does about it:
// - Work (/cpu, /block) runs on the event loop unless --offload N is given; then it
//   runs on N worker_threads (a small pool with a queue, message passing).
// - /sleep is a wait, not work: a setTimeout on the event loop, never offloaded.
//   Node's http module hands every pipelined request over at once (and keeps the
//   responses in order), so the sleeps of one connection run together, where the C
//   models run them one after another (docs/contract.md, "Waits and pipelining").
//   Node counts timers in whole milliseconds of libuv's loop clock, so a sleep may
//   end up to 1 ms early; the C models never end one early.
// - --reactors N uses `cluster` with Node's default scheduling on Linux: the
//   primary accepts and hands each connection to a worker (round robin).  The C
//   models use one SO_REUSEPORT listener per loop instead; Node 20 has no
//   reusePort.  The primary aggregates the workers' counters at shutdown;
//   peak_conns is then the sum of the workers' peaks (an upper bound).
// - Node's server.maxConnections closes connections over the limit at once; the
//   contract wants them to wait.  So with --max-conns N a plain net.Server accepts
//   with pauseOnConnect, and a connection over the limit is held, unread, until an
//   open one closes: the client waits, as in the backlog (but holds a descriptor).
// - The idle timeout is this file's own per-socket timer, not Node's
//   keepAliveTimeout/headersTimeout (those restart on request bytes or run from the
//   first byte of a request, and are checked every 30 s by default).
// - Closing after an error response lingers (end, drain input up to 1 s, destroy)
//   like the C models, instead of Node's destroySoon, so unread input does not turn
//   into a reset that destroys a response already sent.
// - /db and /queries wait on PostgreSQL through `pg`'s Pool (what Node users run),
//   max = this process's share of --db-conns.  node-postgres does not pipeline: a
//   pooled connection carries one query at a time, and a query waits in the Pool's
//   queue for a free one.  /queries?n=N starts its N queries at once (Promise.all),
//   so they spread over the free connections.  connectionTimeoutMillis bounds both
//   the wait for a free connection and the connect itself (pg-pool has one bound
//   for the two); past it, or with the database down, the answer is 503.  A query
//   the database has not answered within DB_SILENT_MS (stopped or hung without
//   closing) fails too (pg's query_timeout), and its connection is dropped: 503.

const cluster = require('node:cluster');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const wt = require('node:worker_threads');

const FNV_BASIS = 2166136261;
const FNV_PRIME = 16777619;

// N x K FNV-1a work units over i & 0xff (docs/contract.md, "Work unit").  Units run in
// blocks of 256 so that i & 0xff is the inner counter and every loop variable
// stays a small integer the JIT keeps in a register; `units` itself may exceed
// 2^32 (10^7 us x K), which a Number holds exactly below 2^53.
function fnvUnits(units) {
	let h = FNV_BASIS | 0;
	const blocks = Math.floor(units / 256);
	const rest = units - blocks * 256;
	for (let b = 0; b < blocks; b++)
		for (let j = 0; j < 256; j++)
			h = Math.imul(h ^ j, FNV_PRIME);
	for (let j = 0; j < rest; j++)
		h = Math.imul(h ^ j, FNV_PRIME);
	return h >>> 0;
}

function hex8(x) {
	return x.toString(16).padStart(8, '0');
}

// A blocking sleep: Atomics.wait on a value nobody changes blocks this thread,
// and on the main thread that is the event loop (the point of /block).
const sleepCell = new Int32Array(new SharedArrayBuffer(4));
function blockUs(us) {
	if (us > 0)
		Atomics.wait(sleepCell, 0, 0, us / 1000);
}

// About 50 ms of work units, timed: K, the units per microsecond.
function calibrate() {
	fnvUnits(1 << 16);	/* warm the JIT */
	let units = 1 << 16;
	for (;;) {
		const t0 = process.hrtime.bigint();
		fnvUnits(units);
		const us = Number(process.hrtime.bigint() - t0) / 1000;
		if (us >= 50000 || units >= 2 ** 40)
			return Math.max(1, Math.floor(units / Math.max(us, 1)));
		units *= 2;
	}
}

// --- offload worker thread ---------------------------------------------------

if (!wt.isMainThread && wt.workerData && wt.workerData.lbOffload) {
	wt.parentPort.on('message', (t) => {
		if (t.kind === 'cpu')
			wt.parentPort.postMessage(fnvUnits(t.units));
		else {
			blockUs(t.us);
			wt.parentPort.postMessage(0);
		}
	});
	return;
}

// --- command line --------------------------------------------------------------

const USAGE =
`usage: srv-node --proto echo|http [--host 127.0.0.1] [--port 8080] [--backlog 4096]
                [--offload N] [--reactors N] [--idle-timeout-ms 10000]
                [--drain-timeout-ms 15000] [--max-conns 0] [--max-body 67108864]
                [--cpu-iters-per-us K] [--stats-file PATH] [--quiet]
                [--db URI] [--db-conns 4] [--enable-fail]
  --offload N     run /cpu and /block on N worker_threads (0: on the event loop)
  --reactors N    N processes (cluster) sharing the port
  --db URI        PostgreSQL for /db and /queries (without it they answer 503)
  --db-conns N    database connections in all, split across the --reactors processes
  --enable-fail   answer GET /fail?kind=error|crash (a failing handler; else 404)
  (--threads, --stack-kb and --procs are not supported by this model)
`;

function usageError(msg) {
	process.stderr.write(`srv-node: ${msg}\n${USAGE}`);
	process.exit(2);
}

// [min, max] of each numeric option; --threads, --stack-kb and --procs are known
// options that this model does not support (usage error, like the C event models).
const NUMERIC = {	/* the C models' ranges (servers/common/opts.c) */
	'--port': ['port', 0, 65535],
	'--backlog': ['backlog', 1, 1000000],
	'--offload': ['offload', 0, 1024],
	'--reactors': ['reactors', 1, 256],
	'--idle-timeout-ms': ['idleTimeoutMs', 0, 86400000],
	'--drain-timeout-ms': ['drainTimeoutMs', 1, 86400000],
	'--max-conns': ['maxConns', 0, 10000000],
	'--max-body': ['maxBody', 0, 4294967296],
	'--cpu-iters-per-us': ['cpuItersPerUs', 1, 1000000],
	'--db-conns': ['dbConns', 1, 10000],
};
const UNSUPPORTED = new Set(['--threads', '--stack-kb', '--procs']);

function parseArgs(argv) {
	const o = {
		proto: null, host: '127.0.0.1', port: 8080, backlog: 4096, offload: 0,
		reactors: 1, idleTimeoutMs: 10000, drainTimeoutMs: 15000, maxConns: 0, maxBody: 67108864,
		cpuItersPerUs: 0, statsFile: null, quiet: false, db: null, dbConns: 4, enableFail: false,
	};
	for (let i = 0; i < argv.length; i++) {
		let name = argv[i], value = null;
		const eq = name.indexOf('=');
		if (name.startsWith('--') && eq > 0) {
			value = name.slice(eq + 1);
			name = name.slice(0, eq);
		}
		const takeValue = () => {
			if (value !== null)
				return value;
			if (i + 1 >= argv.length)
				usageError(`option ${name} needs a value`);
			return argv[++i];
		};
		if (name === '--help' || name === '-h') {
			process.stdout.write(USAGE);
			process.exit(0);
		} else if (name === '--quiet') {
			if (value !== null)
				usageError('--quiet takes no value');
			o.quiet = true;
		} else if (name === '--enable-fail') {
			if (value !== null)
				usageError('--enable-fail takes no value');
			o.enableFail = true;
		} else if (name === '--proto') {
			const v = takeValue();
			if (v !== 'echo' && v !== 'http')
				usageError(`--proto must be echo or http, not '${v}'`);
			o.proto = v;
		} else if (name === '--host') {
			o.host = takeValue();
			if (net.isIP(o.host) === 0)
				usageError(`--host must be an IP address, not '${o.host}'`);
		} else if (name === '--db') {
			o.db = takeValue();
			if (o.db === '')
				usageError('--db needs a URI');
		} else if (name === '--stats-file') {
			o.statsFile = takeValue();
			if (o.statsFile === '')
				usageError('--stats-file needs a path');
		} else if (UNSUPPORTED.has(name)) {
			usageError(`option ${name} is not supported by the node model`);
		} else if (NUMERIC[name]) {
			const [key, min, max] = NUMERIC[name];
			const v = takeValue();
			if (!/^[0-9]+$/.test(v) || Number(v) < min || Number(v) > max)
				usageError(`${name} must be an integer in [${min}, ${max}], not '${v}'`);
			o[key] = Number(v);
		} else {
			usageError(`unknown option '${argv[i]}'`);
		}
	}
	if (o.proto === null)
		usageError('--proto echo|http is required');
	return o;
}

const opts = parseArgs(process.argv.slice(2));

function note(msg) {
	if (!opts.quiet)
		process.stderr.write(`srv-node: ${msg}\n`);
}

// --- counters --------------------------------------------------------------------

// waiting: sleeps and database queries pending now, written as "waits_cut" (0 after a complete drain).
const STAT_KEYS = ['accepted', 'requests', 'bytes_in', 'bytes_out', 'errors', 'timeouts', 'resets',
	'peak_conns', 'waiting', 'restarts'];
const stats = { accepted: 0, requests: 0, bytes_in: 0, bytes_out: 0, errors: 0, timeouts: 0, resets: 0,
	peak_conns: 0, waiting: 0, restarts: 0 };
let conns = 0;
const sockets = new Set();

function statsJson(st, K) {
	return JSON.stringify({
		schema: 1, model: 'node', proto: opts.proto,
		accepted: st.accepted, requests: st.requests, bytes_in: st.bytes_in,
		bytes_out: st.bytes_out, errors: st.errors, peak_conns: st.peak_conns,
		cpu_iters_per_us: K, timeouts: st.timeouts, resets: st.resets, waits_cut: st.waiting,
		restarts: st.restarts,
	}) + '\n';
}

function writeStats(st, K) {
	const s = statsJson(st, K);
	try {
		if (opts.statsFile)
			fs.writeFileSync(opts.statsFile, s);
		else
			fs.writeSync(2, s);
	} catch (e) {
		process.stderr.write(`srv-node: cannot write stats to ${opts.statsFile}: ${e.message}\n`);
	}
}

// --- cluster primary: --reactors N ------------------------------------------------

const DRAIN_MS = opts.drainTimeoutMs;

if (opts.reactors > 1 && cluster.isPrimary) {
	const K = opts.cpuItersPerUs || calibrate();
	if (!opts.cpuItersPerUs)
		note(`calibrated --cpu-iters-per-us ${K}`);
	const total = Object.assign({}, stats);
	let listening = 0, draining = false, announced = false, cut = false;
	const live = new Set();
	// Each worker has an index for its share of --db-conns; a replacement
	// takes over the index of the worker it replaces.
	const fork = (index) => {
		const w = cluster.fork({ LB_NODE_K: String(K), LB_NODE_INDEX: String(index) });
		w.lbIndex = index;
		live.add(w);
		w.on('message', (m) => {
			if (m && m.lbStats)
				for (const k of STAT_KEYS)
					total[k] += m.lbStats[k];
		});
	};
	cluster.on('listening', (w, addr) => {
		if (++listening === opts.reactors && !announced) {
			announced = true;
			fs.writeSync(1, `listening on ${opts.host}:${addr.port}\n`);
		}
	});
	cluster.on('exit', (w, code, signal) => {
		live.delete(w);
		if (!draining) {
			total.errors++;
			total.restarts++;
			note(`worker ${w.process.pid} died (${signal || code}); starting another`);
			fork(w.lbIndex);
		} else {
			cut = cut || code !== 0;
			if (live.size === 0) {
				writeStats(total, K);
				process.exit(cut ? 1 : 0);
			}
		}
	});
	const drain = () => {
		if (draining) {
			writeStats(total, K);
			process.exit(1);
		}
		draining = true;
		for (const w of live)
			w.send({ lbDrain: true });
		// Each worker stops at the limit itself and reports what it cut; this
		// is the backstop for one that does not.
		setTimeout(() => {
			for (const w of live)
				w.process.kill('SIGKILL');
			writeStats(total, K);
			process.exit(1);
		}, DRAIN_MS + 2000).unref();
	};
	process.on('SIGINT', drain);
	process.on('SIGTERM', drain);
	for (let i = 0; i < opts.reactors; i++)
		fork(i);
	return;
}

// --- one serving process (single, or a cluster worker) ----------------------------

const K = cluster.isWorker ? Number(process.env.LB_NODE_K) : (opts.cpuItersPerUs || calibrate());
if (!cluster.isWorker && !opts.cpuItersPerUs)
	note(`calibrated --cpu-iters-per-us ${K}`);
const T = opts.idleTimeoutMs;
let draining = false;

// A fixed pool of worker threads for --offload N: a task goes to an idle worker,
// or waits in a FIFO queue for the next one to finish.
class OffloadPool {
	constructor(n) {
		this.idle = [];
		this.queue = [];
		this.workers = [];
		for (let i = 0; i < n; i++) {
			const w = new wt.Worker(__filename, { workerData: { lbOffload: true } });
			w.on('message', (result) => {
				const cb = w.lbCallback;
				w.lbCallback = null;
				this.next(w);
				cb(result);
			});
			w.on('error', (e) => {
				process.stderr.write(`srv-node: offload worker failed: ${e.stack}\n`);
				process.exit(1);
			});
			this.workers.push(w);
			this.idle.push(w);
		}
	}
	run(task, cb) {
		const w = this.idle.pop();
		if (w) {
			w.lbCallback = cb;
			w.postMessage(task);
		} else {
			this.queue.push([task, cb]);
		}
	}
	next(w) {
		const t = this.queue.shift();
		if (t) {
			w.lbCallback = t[1];
			w.postMessage(t[0]);
		} else {
			this.idle.push(w);
		}
	}
	stop() {
		for (const w of this.workers)
			w.terminate();
	}
}

const pool = opts.offload > 0 ? new OffloadPool(opts.offload) : null;

// Ends the write side, drains input for at most a second, then destroys: a
// lingering close, so a response already handed to the kernel is not destroyed by
// a reset caused by input we did not read.
function lingerClose(socket) {
	if (socket.destroyed)
		return;
	if (socket.lbLinger)
		return;
	socket.lbLinger = true;
	clearIdle(socket);
	if (socket.writable)
		socket.end();
	socket.on('error', () => {});
	socket.once('end', () => socket.destroy());
	socket.resume();
	setTimeout(() => socket.destroy(), 1000).unref();
}

function socketOpened(socket) {
	stats.accepted++;
	conns++;
	if (conns > stats.peak_conns)
		stats.peak_conns = conns;
	sockets.add(socket);
	socket.lbSleeps = null;
	socket.on('error', (e) => {
		if (e.code === 'ECONNRESET' || e.code === 'EPIPE')
			stats.resets++;
		else
			stats.errors++;
	});
	socket.once('close', () => {
		conns--;
		sockets.delete(socket);
		clearIdle(socket);
		cancelSleeps(socket);
		stats.bytes_in += socket.bytesRead;
		stats.bytes_out += socket.bytesWritten;
		socketClosed();
	});
}

// --- idle timeout (docs/contract.md, --idle-timeout-ms) --------------------------------
//
// HTTP: one timer per socket, (re)started at accept and when the last response in
// progress has been handed to the kernel.  Bytes of an incomplete request do not
// restart it, so idle keep-alive clients and slowloris clients are closed after T.
// When it fires with a request in progress, the socket is kept if work is running
// for it or its output moved since the timer was started, and closed otherwise
// (output that made no progress for T; the check has a granularity of T).

function armIdle(socket) {
	if (T === 0 || socket.lbLinger)
		return;
	socket.lbMark = socket.bytesWritten + socket.bytesRead;
	if (socket.lbIdle)
		socket.lbIdle.refresh();
	else
		socket.lbIdle = setTimeout(onIdle, T, socket);
}

function clearIdle(socket) {
	if (socket.lbIdle) {
		clearTimeout(socket.lbIdle);
		socket.lbIdle = null;
	}
}

function onIdle(socket) {
	if (socket.lbInflight > 0) {	/* lbWork: work on the pool, a sleep or queries */
		const mark = socket.bytesWritten + socket.bytesRead;
		if (socket.lbWork > 0 || mark !== socket.lbMark) {
			armIdle(socket);
			return;
		}
	}
	stats.timeouts++;
	socket.lbIdle = null;
	socket.destroy();
}

// --- HTTP ------------------------------------------------------------------------

const REASON = {
	100: 'Continue', 200: 'OK', 400: 'Bad Request', 404: 'Not Found',
	405: 'Method Not Allowed', 413: 'Content Too Large', 431: 'Request Header Fields Too Large',
	500: 'Internal Server Error',
	503: 'Service Unavailable',
};

const CHUNK = 64 * 1024;
const XBUF = Buffer.alloc(CHUNK, 'x');

// The value of `name=` among the &-separated pairs of the query, as a number in
// [0, max], or -1 (missing, not all decimal digits, or out of range).
function queryValue(query, name, max) {
	for (const pair of query.split('&')) {
		if (!pair.startsWith(name + '='))
			continue;
		const v = pair.slice(name.length + 1);
		if (!/^[0-9]+$/.test(v))
			return -1;
		let n = 0;
		for (let i = 0; i < v.length; i++) {
			n = n * 10 + (v.charCodeAt(i) - 48);
			if (n > max)
				return -1;
		}
		return n;
	}
	return -1;
}

// The value of the first `name=` pair of the query, or null.
function queryString(query, name) {
	for (const pair of query.split('&'))
		if (pair.startsWith(name + '='))
			return pair.slice(name.length + 1);
	return null;
}

function send(res, code, type, body, extra) {
	if (res.lbAbandoned)
		return;
	res.statusCode = code;
	res.statusMessage = REASON[code];
	res.setHeader('Content-Type', type);
	res.setHeader('Content-Length', Buffer.byteLength(body));
	if (extra)
		for (const k in extra)
			res.setHeader(k, extra[k]);
	if (res.lbSocket && closesAfter(res))
		res.lbSocket.lbClosing = true;
	if (draining)
		res.setHeader('Connection', 'close');
	res.end(body);
}

function sendError(res, code, extra) {
	send(res, code, 'text/plain', REASON[code] + '\n', extra);
}

function runWork(req, res, task, reply) {
	const socket = req.socket;
	if (!pool) {
		const r = task.kind === 'cpu' ? fnvUnits(task.units) : (blockUs(task.us), 0);
		reply(r);
		return;
	}
	socket.lbWork = (socket.lbWork || 0) + 1;
	pool.run(task, (r) => {
		socket.lbWork--;
		if (!res.destroyed && !socket.destroyed)
			reply(r);
	});
}

// /sleep?ms=N: a timer of this loop.  A socket that closes while it sleeps
// cancels its timers (cancelSleeps), so a client that left costs nothing more.
function sleepThen(req, res, ms) {
	const socket = req.socket;
	if (!socket.lbSleeps)
		socket.lbSleeps = new Set();
	socket.lbWork = (socket.lbWork || 0) + 1;
	stats.waiting++;
	const t = setTimeout(() => {
		socket.lbSleeps.delete(t);
		socket.lbWork--;
		stats.waiting--;
		send(res, 200, 'text/plain', 'ok');
	}, ms);
	socket.lbSleeps.add(t);
}

function cancelSleeps(socket) {
	if (!socket.lbSleeps)
		return;
	for (const t of socket.lbSleeps) {
		clearTimeout(t);
		stats.waiting--;
	}
	socket.lbSleeps.clear();
}

// --- /db and /queries (TechEmpower) ----------------------------------------------------

const DB_ROWS = 10000;
const DB_MAX_QUERIES = 500;
const DB_WAIT_MS = 5000;	/* DB_WAIT_MS of the C blocking pool */
const DB_SILENT_MS = 2000;	/* DB_SILENT_MS of the C database clients */

// /queries?n=: the first n= pair, clamped as TechEmpower does (servers/common/db.c):
// digits give their number, 0 gives 1, above 500 (overflowing too) gives 500;
// missing, empty, negative or anything else gives 1.
function queriesCount(query) {
	for (const pair of query.split('&')) {
		if (!pair.startsWith('n='))
			continue;
		let v = pair.slice(2);
		const negative = v.startsWith('-');
		if (negative)
			v = v.slice(1);
		if (!/^[0-9]+$/.test(v) || negative)
			return 1;
		let n = 0;
		for (let i = 0; i < v.length && n <= DB_MAX_QUERIES; i++)
			n = n * 10 + (v.charCodeAt(i) - 48);
		return n === 0 ? 1 : Math.min(n, DB_MAX_QUERIES);
	}
	return 1;
}

// This process's share of --db-conns: the C models' split across loops (the
// remainder to the first ones, at least one each).
function dbShare() {
	const n = cluster.isWorker ? opts.reactors : 1;
	const i = cluster.isWorker ? Number(process.env.LB_NODE_INDEX) : 0;
	return Math.max(1, Math.floor(opts.dbConns / n) + (i < opts.dbConns % n ? 1 : 0));
}

let dbPool = null;
if (opts.db !== null && opts.proto === 'http') {
	const { Pool } = require('pg');
	dbPool = new Pool({
		connectionString: opts.db,
		max: dbShare(),
		connectionTimeoutMillis: DB_WAIT_MS,
		query_timeout: DB_SILENT_MS,
		idleTimeoutMillis: 0,
		fallback_application_name: 'loopbench',
	});
	// An idle connection that breaks (the database restarted) is dropped by the
	// Pool; without a listener the error would end the process.
	dbPool.on('error', () => {});
}

// The C clients' back-off (servers/common/dbconn.h): after a failure no new
// attempt for DB_RETRY_MIN_MS, doubling up to DB_RETRY_MAX_MS, and meanwhile
// /db answers 503 at once.  Without it the Pool would open a connection for
// every request while the database is away: a core spent on refused connects.
const DB_RETRY_MIN_MS = 100;
const DB_RETRY_MAX_MS = 500;
const dbBackoff = { nextMs: 0, delayMs: 0 };

function dbFailed() {
	const b = dbBackoff;
	b.delayMs = b.delayMs === 0 ? DB_RETRY_MIN_MS : Math.min(2 * b.delayMs, DB_RETRY_MAX_MS);
	b.nextMs = performance.now() + b.delayMs;
}

function dbOk() {
	dbBackoff.delayMs = 0;
	dbBackoff.nextMs = 0;
}

// Math.random is V8's xorshift128+, one per isolate: a generator per thread.
function worldRow() {
	const id = 1 + Math.floor(Math.random() * DB_ROWS);
	return dbPool.query({ name: 'world', text: 'SELECT id, randomNumber FROM World WHERE id = $1',
		values: [id] }).then((r) => {
		if (r.rows.length !== 1 || r.rows[0].id !== id)
			throw new Error('no such row');
		// PostgreSQL folds the unquoted column name: pg returns "randomnumber".
		return { id, randomNumber: r.rows[0].randomnumber };
	});
}

function answerDb(req, res, n, array) {
	if (dbPool === null || performance.now() < dbBackoff.nextMs)
		return sendError(res, 503);
	const socket = req.socket;
	const rows = [];
	for (let i = 0; i < n; i++)
		rows.push(worldRow());
	socket.lbWork++;	/* waiting, not idle: like offloaded work */
	stats.waiting++;
	Promise.all(rows).then((r) => {
		dbOk();
		return [200, JSON.stringify(array ? r : r[0])];
	}, () => {
		dbFailed();
		return [503, null];
	})
		.then(([code, body]) => {
			socket.lbWork--;
			stats.waiting--;
			if (res.destroyed || socket.destroyed)
				return;
			if (code === 200)
				send(res, 200, 'application/json', body);
			else
				sendError(res, 503);
		});
}

function sendBytes(res, n) {
	res.statusCode = 200;
	res.statusMessage = REASON[200];
	res.setHeader('Content-Type', 'application/octet-stream');
	res.setHeader('Content-Length', n);
	if (draining)
		res.setHeader('Connection', 'close');
	let left = n;
	const pump = () => {
		while (left > 0) {
			if (res.destroyed)
				return;
			const k = Math.min(left, CHUNK);
			left -= k;
			if (!res.write(k === CHUNK ? XBUF : XBUF.subarray(0, k))) {
				res.once('drain', pump);
				return;
			}
		}
		res.end();
	};
	pump();
}

// POST /echo.  With Content-Length the body streams back as it arrives (pipe
// applies back-pressure both ways); a chunked body is buffered up to --max-body,
// then answered with a Content-Length.
function echoBody(req, res) {
	const cl = req.headers['content-length'];
	if (cl !== undefined) {
		const n = Number(cl);
		if (n > opts.maxBody) {
			sendError(res, 413, { Connection: 'close' });
			return;
		}
		res.statusCode = 200;
		res.statusMessage = REASON[200];
		res.setHeader('Content-Type', 'application/octet-stream');
		res.setHeader('Content-Length', n);
		if (draining)
			res.setHeader('Connection', 'close');
		req.pipe(res);
		return;
	}
	const parts = [];
	let size = 0, over = false;
	req.on('data', (b) => {
		if (over)
			return;
		size += b.length;
		if (size > opts.maxBody) {
			over = true;
			parts.length = 0;
			sendError(res, 413, { Connection: 'close' });
			return;
		}
		parts.push(b);
	});
	req.on('end', () => {
		if (!over)
			send(res, 200, 'application/octet-stream', Buffer.concat(parts, size));
	});
}

// The path and query of a request target, as the C models split it
// (servers/common/http.c, split_target): a fragment is dropped, and an
// absolute-form target (http://host[:port]/path) is reduced to its path ("/" when
// it has none).
function splitTarget(url) {
	const hash = url.indexOf('#');
	if (hash >= 0)
		url = url.slice(0, hash);
	const abs = /^https?:\/\/[^/?]*/i.exec(url);
	if (abs) {
		url = url.slice(abs[0].length);
		if (url === '' || url[0] === '?')
			url = '/' + url;
	}
	const q = url.indexOf('?');
	return q < 0 ? [url, ''] : [url.slice(0, q), url.slice(q + 1)];
}

// What RFC 9112 asks of a server and llhttp leaves to it is checked here as the C
// models check it (servers/common/http.c); a request that breaks it is malformed:
// 400, then close.
//  - Host: exactly one in an HTTP/1.1 request, at most one in any, its value
//    uri-host [":" port] (section 3.2);
//  - Transfer-Encoding in an HTTP/1.0 request (section 6.1), beside a
//    Content-Length (section 6.3; llhttp takes an empty one before it), or naming
//    no coding at all (llhttp takes some such lines and not others);
//  - a final coding other than chunked (section 6.3): llhttp refuses it too, but
//    only after node has emitted the request.
const HOST_VALUE = /^(?:\[[A-Za-z0-9\-._~!$&'()*+,;=:]*\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?$/;

function headOk(req) {
	const raw = req.rawHeaders;
	let hosts = 0, hostOk = true, te = false, teEmpty = false;
	for (let i = 0; i < raw.length; i += 2) {
		const name = raw[i].toLowerCase();
		if (name === 'host') {
			hosts++;
			hostOk = hostOk && HOST_VALUE.test(raw[i + 1].replace(/[ \t]+$/, ''));
		} else if (name === 'transfer-encoding') {
			te = true;
			teEmpty = teEmpty || raw[i + 1].trim() === '';
		}
	}
	const v11 = req.httpVersionMajor === 1 && req.httpVersionMinor === 1;
	const v10 = req.httpVersionMajor === 1 && req.httpVersionMinor === 0;
	const coding = String(req.headers['transfer-encoding'] || '').trim();
	const chunkedLast = coding === '' || /(?:^|,)[ \t]*chunked$/i.test(coding);
	const clen = req.headers['content-length'] !== undefined;
	return hostOk && hosts <= 1 && !(v11 && hosts === 0) && !(te && (v10 || clen || teEmpty)) &&
		chunkedLast;
}

function onRequest(req, res) {
	const socket = req.socket;
	// Node parses ahead of its answers: after an answer that closes the
	// connection (send() notes it), what follows is neither served nor answered.
	if (socket.lbClosing)
		return;
	res.lbSocket = socket;
	socket.lbInflight = (socket.lbInflight || 0) + 1;
	socket.lbLastRes = res;
	socket.lbLastReq = req;
	res.sendDate = false;
	res.on('finish', () => {
		stats.requests++;
		if (--socket.lbInflight === 0) {
			if (draining)
				lingerClose(socket);
			else
				armIdle(socket);
		} else if (socket.lbAnswer && socket.lbInflight === 1) {
			socket.lbAnswer();	/* only the abandoned one is left: onClientError */
		}
	});

	if (!headOk(req)) {
		stats.errors++;
		return sendError(res, 400, { Connection: 'close' });
	}
	const [path, query] = splitTarget(req.url);
	const method = req.method;
	if (path === '/echo' && method === 'POST')
		return echoBody(req, res);	/* the body is the point: it streams */
	withBodyRead(req, res, () => handle(req, res, path, query, method));
}

// The server's wrapper around every handler: an exception thrown while handling a
// request is that request's 500 (counted in errors), and the connection carries on
// -- the way Node servers catch what a handler throws.  It catches only what is
// thrown here, synchronously: an exception thrown later, from a callback the
// handler scheduled, has nothing around it and ends the process.
function handle(req, res, path, query, method) {
	try {
		route(req, res, path, query, method);
	} catch (e) {
		stats.errors++;
		if (!res.headersSent)
			sendError(res, 500);
	}
}

// GET /fail (--enable-fail): the two ways a handler fails.  An error is thrown
// inside the handler (handle() catches it); a crash is thrown from an
// asynchronous callback, where nothing can catch it.
function fail(query) {
	if (queryString(query, 'kind') === 'error')
		throw new Error('GET /fail?kind=error');
	setImmediate(() => {
		throw new Error('GET /fail?kind=crash');
	});
}

// Like the C models, a request on any other route is answered once its whole
// message is in, and its body (read and dropped) counts against --max-body: a
// declared length over it gets the 413 at once, a chunked body when it passes it.
function withBodyRead(req, res, then) {
	const cl = req.headers['content-length'];
	if (cl !== undefined && Number(cl) > opts.maxBody)
		return sendError(res, 413, { Connection: 'close' });
	if (req.complete)
		return then();
	let size = 0, over = false;
	req.on('data', (b) => {
		size += b.length;
		if (!over && size > opts.maxBody) {
			over = true;
			sendError(res, 413, { Connection: 'close' });
		}
	});
	req.on('end', () => {
		if (!over)
			then();
	});
}

function route(req, res, path, query, method) {
	switch (path) {
	case '/':
		if (method !== 'GET')
			return sendError(res, 405, { Allow: 'GET' });
		return send(res, 200, 'text/plain', 'Hello, World!');
	case '/cpu': {
		if (method !== 'GET')
			return sendError(res, 405, { Allow: 'GET' });
		const us = queryValue(query, 'us', 10000000);
		if (us < 0)
			return sendError(res, 400);
		return runWork(req, res, { kind: 'cpu', units: us * K },
			(h) => send(res, 200, 'text/plain', hex8(h)));
	}
	case '/block': {
		if (method !== 'GET')
			return sendError(res, 405, { Allow: 'GET' });
		const us = queryValue(query, 'us', 10000000);
		if (us < 0)
			return sendError(res, 400);
		return runWork(req, res, { kind: 'block', us },
			() => send(res, 200, 'text/plain', 'ok'));
	}
	case '/sleep': {
		if (method !== 'GET')
			return sendError(res, 405, { Allow: 'GET' });
		const ms = queryValue(query, 'ms', 60000);
		if (ms < 0)
			return sendError(res, 400);
		return sleepThen(req, res, ms);
	}
	case '/bytes': {
		if (method !== 'GET')
			return sendError(res, 405, { Allow: 'GET' });
		const n = queryValue(query, 'n', 67108864);
		if (n < 0)
			return sendError(res, 400);
		return sendBytes(res, n);
	}
	case '/echo':
		return sendError(res, 405, { Allow: 'POST' });
	case '/fail': {
		if (!opts.enableFail)
			return sendError(res, 404);
		if (method !== 'GET')
			return sendError(res, 405, { Allow: 'GET' });
		const kind = queryString(query, 'kind');
		if (kind !== 'error' && kind !== 'crash')
			return sendError(res, 400);
		return fail(query);
	}
	case '/db':
		if (method !== 'GET')
			return sendError(res, 405, { Allow: 'GET' });
		return answerDb(req, res, 1, false);
	case '/queries':
		if (method !== 'GET')
			return sendError(res, 405, { Allow: 'GET' });
		return answerDb(req, res, queriesCount(query), true);
	default:
		return sendError(res, 404);
	}
}

// Expect: 100-continue (HTTP/1.1; Node calls this instead of 'request').  Like the
// C models: a 100 for a body that is coming and allowed, whatever the route (a
// length of 0 needs none); a declared length over --max-body gets the 413 at once
// from the route itself (POST /echo), without a 100.
function onCheckContinue(req, res) {
	const cl = req.headers['content-length'];
	const chunked = req.headers['transfer-encoding'] !== undefined;
	// Only a response first in line: node's http module would put the 100 of a
	// response queued behind pipelined ones after that response's head.
	if (headOk(req) && res.socket && !req.socket.lbClosing &&
	    (chunked || (cl !== undefined && Number(cl) > 0 && Number(cl) <= opts.maxBody)))
		res.writeContinue();
	onRequest(req, res);
}

// Input llhttp rejects: 400 (431 for a header block over 8 KiB), then close.  The
// answer goes after the responses already under way on this connection, in order:
// an error inside a request's body (a bad chunk) is that request's answer; an
// error after a complete request waits for that request's response to finish.
function onClientError(err, socket) {
	if (typeof err.code === 'string' && err.code.startsWith('HPE_'))
		stats.errors++;	/* I/O errors were counted by the socket's 'error' listener */
	if (socket.lbErrored || socket.destroyed || socket.lbClosing)
		return;		/* lbClosing: an answer already ends this connection */
	socket.lbErrored = true;
	if (err.code === 'ECONNRESET' || err.code === 'EPIPE' ||
	    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || !socket.writable) {
		socket.destroy();
		return;
	}
	const res = socket.lbLastRes, req = socket.lbLastReq;
	// No second answer: not after a response that closes the connection (llhttp
	// reports what follows it as HPE_CLOSED_CONNECTION), and not to a request
	// answered already -- node answers at the head, and this error came in its
	// body.  The connection closes once that answer is out; one still streaming
	// cannot be finished, so it is cut.  An error in the body of a request not
	// answered yet is that request's answer (below).
	const inBody = req && !req.complete;
	const answered = inBody && res.headersSent;
	if (res && (answered || (!inBody && (err.code === 'HPE_CLOSED_CONNECTION' || closesAfter(res))))) {
		if (res.writableFinished || res.destroyed)
			lingerClose(socket);
		else if (answered && !res.writableEnded)
			socket.destroy();
		else
			res.once('finish', () => lingerClose(socket));
		return;
	}
	const code = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
	const body = REASON[code] + '\n';
	const bytes = `HTTP/1.1 ${code} ${REASON[code]}\r\nContent-Type: text/plain\r\n` +
		`Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
	const answer = () => {
		if (socket.destroyed || !socket.writable)
			return;
		socket.write(bytes, (e) => { if (!e) stats.requests++; });
		lingerClose(socket);
	};
	if (!res || res.writableFinished || res.destroyed) {
		answer();
	} else if (req && !req.complete) {
		// This request's answer is the 400, after every earlier response
		// (several may be queued behind the one on the socket).
		res.lbAbandoned = true;
		if (socket.lbInflight <= 1)
			answer();
		else
			socket.lbAnswer = () => { socket.lbAnswer = null; answer(); };
	} else {
		res.once('finish', answer);
	}
}

// True when the connection closes after this response.
function closesAfter(res) {
	return !res.shouldKeepAlive || /^close$/i.test(String(res.getHeader('Connection') || ''));
}

function httpServer() {
	const srv = http.createServer({
		maxHeaderSize: 8192,
		requestTimeout: 0,
		headersTimeout: 0,
		keepAliveTimeout: 0,
		noDelay: true,
		requireHostHeader: false,
	});
	srv.timeout = 0;
	srv.keepAliveTimeout = 0;
	srv.maxHeadersCount = 0;	/* every field line in rawHeaders, for headOk() */
	srv.on('request', onRequest);
	srv.on('checkContinue', onCheckContinue);
	srv.on('checkExpectation', onRequest);
	srv.on('clientError', onClientError);
	return srv;
}

function onHttpConnection(socket) {
	socket.lbInflight = 0;
	socket.lbWork = 0;
	// Node's http server closes after a `Connection: close` response with
	// destroySoon(); make that a lingering close.
	socket.destroySoon = function () { lingerClose(this); };
	armIdle(socket);
}

// --- echo ---------------------------------------------------------------------------

function onEchoConnection(socket) {
	socket.setNoDelay(true);
	if (T > 0) {
		socket.setTimeout(T);
		socket.on('timeout', () => {
			stats.timeouts++;
			socket.destroy();
		});
	}
	socket.pipe(socket);	/* back-pressure: reading pauses while writes are pending */
}

function drainEcho(socket) {
	socket.unpipe(socket);
	socket.setTimeout(0);
	lingerClose(socket);
}

// --- listening, admission (--max-conns), shutdown -----------------------------------

const front = opts.proto === 'http' ? httpServer() : net.createServer({ allowHalfOpen: false });
const onConn = opts.proto === 'http' ? onHttpConnection : onEchoConnection;
let listener = front;
const waiting = [];	/* accepted over --max-conns, not yet read */

function admit(socket) {
	socketOpened(socket);
	if (opts.proto === 'http') {
		front.emit('connection', socket);
		socket.resume();
	} else {
		onConn(socket);
		socket.resume();
	}
}

if (opts.maxConns > 0) {
	listener = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => {
		if (draining) {
			socket.destroy();
			return;
		}
		if (conns < opts.maxConns)
			admit(socket);
		else
			waiting.push(socket);
	});
	if (opts.proto === 'http')
		front.on('connection', onConn);
} else {
	front.on('connection', (socket) => {
		socketOpened(socket);
		onConn(socket);
	});
}

function socketClosed() {
	while (waiting.length > 0 && conns < opts.maxConns) {
		const s = waiting.shift();
		if (!s.destroyed)
			admit(s);
	}
	if (draining && conns === 0)
		finish(0);
}

let finished = false;
function finish(code) {
	if (finished)
		return;
	finished = true;
	for (const s of sockets) {
		stats.bytes_in += s.bytesRead;
		stats.bytes_out += s.bytesWritten;
	}
	if (pool)
		pool.stop();
	if (cluster.isWorker) {
		process.send({ lbStats: stats }, () => process.exit(code));
		return;
	}
	writeStats(stats, K);
	process.exit(code);
}

function drain() {
	if (draining) {
		finish(1);
		return;
	}
	draining = true;
	listener.close();
	for (const s of waiting)
		s.destroy();
	waiting.length = 0;
	for (const s of sockets) {
		if (opts.proto === 'echo')
			drainEcho(s);
		else if (!(s.lbInflight > 0))
			lingerClose(s);
	}
	if (conns === 0)
		finish(0);
	setTimeout(() => finish(1), DRAIN_MS).unref();
}

if (cluster.isWorker) {
	// The primary coordinates shutdown: ignore the terminal's signals here.
	process.on('SIGINT', () => {});
	process.on('SIGTERM', () => {});
	process.on('message', (m) => { if (m && m.lbDrain) drain(); });
	process.on('disconnect', () => { if (!draining) process.exit(1); });
} else {
	process.on('SIGINT', drain);
	process.on('SIGTERM', drain);
}

listener.on('error', (e) => {
	process.stderr.write(`srv-node: cannot listen on ${opts.host}:${opts.port}: ${e.message}\n`);
	process.exit(1);
});
listener.listen({ host: opts.host, port: opts.port, backlog: opts.backlog }, () => {
	if (!cluster.isWorker)
		fs.writeSync(1, `listening on ${opts.host}:${listener.address().port}\n`);
});
