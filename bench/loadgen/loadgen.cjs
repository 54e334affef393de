// The load generator: runs one scenario against one server and prints JSON lines.
//
// Usage: node loadgen.cjs '<json params>'   (see bench/scenarios.py for the parameters)
// Output, one JSON object per line on stdout: {"type":"progress","text":...} while it
// runs, then {"type":"result",...} or {"type":"error",...}. It measures the server from
// /proc/<pid> (CPU time, RSS) at the edges of each measured window, and its own CPU use,
// so the report can show whether the generator was what limited a figure.
"use strict";
const fs = require("fs");
const { performance } = require("perf_hooks");
const { LeanSocket } = require("./lean.cjs");

const params = JSON.parse(process.argv[2] || "{}");
const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = params.clk_tck || 100;
const PAD = "x".repeat(params.pad || 32);

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}
let lastProgress = 0;
function progress(text, force) {
  const t = now();
  if (force || t - lastProgress > 250) {
    lastProgress = t;
    out({ type: "progress", text });
  }
}

// ---- /proc readings ----------------------------------------------------------------------
function cpuTicks(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return [Number(f[11]), Number(f[12])]; // utime, stime (fields 14 and 15)
}
function schedNs(pid) {
  // Sum of every thread's run time, in nanoseconds: finer than the 10 ms ticks of stat.
  let total = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "latin1").split(" ")[0]);
    } catch (e) {
      // the thread ended meanwhile
    }
  }
  return total;
}
function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, "latin1"));
  return m ? Number(m[1]) * 1024 : 0;
}
function machineBusyTicks() {
  // Every core's busy time (user nice system irq softirq steal): the rest of the machine's
  // load, beyond the server and the generator, shows as noise in the report.
  const f = fs.readFileSync("/proc/stat", "latin1").split("\n")[0].trim().split(/\s+/);
  return [1, 2, 3, 6, 7, 8].reduce((sum, i) => sum + Number(f[i] || 0), 0);
}
function snapshot() {
  const pid = params.pid;
  const [utime, stime] = cpuTicks(pid);
  return { t: now(), ticks: utime + stime, utime, stime, ns: schedNs(pid), own: process.cpuUsage(), busy: machineBusyTicks() };
}
function usage(a, b) {
  const wall = (b.t - a.t) / 1000;
  const ownCpu = (b.own.user - a.own.user + b.own.system - a.own.system) / 1e6;
  const serverTicks = (b.ticks - a.ticks) / CLK_TCK;
  const other = (b.busy - a.busy) / CLK_TCK - serverTicks - ownCpu;
  return {
    wall_s: wall,
    other_load: wall > 0 ? Math.max(0, other / wall) : 0,
    server_util: wall > 0 ? serverTicks / wall : 0,
    server_cpu_s: serverTicks,
    // User space (the interpreter, the event loop) and kernel (system calls, loopback TCP).
    server_user_s: (b.utime - a.utime) / CLK_TCK,
    server_sys_s: (b.stime - a.stime) / CLK_TCK,
    server_cpu_sched_s: (b.ns - a.ns) / 1e9,
    loadgen_cpu_s: ownCpu,
    loadgen_util: wall > 0 ? ownCpu / wall : 0,
  };
}
function serverCpu(u) {
  // schedstat (ns) when the kernel has it, else utime+stime ticks.
  return u.server_cpu_sched_s > 0 ? u.server_cpu_sched_s : u.server_cpu_s;
}

function percentiles(values, count) {
  const a = Float64Array.from(values.subarray ? values.subarray(0, count) : values.slice(0, count));
  a.sort();
  const at = (q) => (a.length ? a[Math.min(a.length - 1, Math.floor(q * a.length))] : null);
  return { p50_ms: at(0.5), p99_ms: at(0.99), max_ms: a.length ? a[a.length - 1] : null };
}

// ---- clients ---------------------------------------------------------------------------
function makeClient(transport) {
  if (params.client === "official") {
    const { io } = require("socket.io-client");
    const s = io(params.url, {
      transports: [transport],
      forceNew: true,
      reconnection: false,
      autoConnect: false,
      perMessageDeflate: false,
      timeout: 20000,
    });
    return {
      raw: s,
      on: (ev, fn) => s.on(ev, fn),
      emit: (...a) => s.emit(...a),
      close: () => s.close(),
      connect: () =>
        new Promise((resolve, reject) => {
          s.once("connect", resolve);
          s.once("connect_error", reject);
          s.connect();
        }),
    };
  }
  return new LeanSocket(params.url, { transport });
}

// '42["pub",{"t":1.5,"s":3,"p":"xx"}]' as any server spaces it: t and s read off the text
// (the lean client hands it over unparsed), or from the parsed object otherwise.
const PUB_PREFIX = '42["pub",';
function pubFields(text) {
  const t = parseFloat(text.slice(text.indexOf('"t":') + 4));
  const s = parseInt(text.slice(text.indexOf('"s":') + 4), 10);
  if (Number.isNaN(t) || Number.isNaN(s)) {
    const p = JSON.parse(text.slice(2))[1];
    return { t: p.t, s: p.s };
  }
  return { t, s };
}
function onPub(client, fn) {
  if (client instanceof LeanSocket) client.onText(PUB_PREFIX, (text) => fn(pubFields(text)));
  else client.on("pub", fn);
}

function ack(client, event, ...args) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for ${event}`)), params.ack_timeout_ms || 20000);
    client.emit(event, ...args, (...reply) => {
      clearTimeout(timer);
      resolve(reply);
    });
  });
}

async function connectMany(n, { transport, concurrency, join, setup, label }) {
  const clients = new Array(n);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const c = makeClient(transport);
      if (setup) setup(c, i);
      await c.connect();
      if (join) await ack(c, "join", join);
      clients[i] = c;
      done++;
      progress(`${label} ${done}/${n}`);
    }
  };
  const workers = [];
  for (let w = 0; w < Math.min(concurrency, n); w++) workers.push(worker());
  await Promise.all(workers);
  return clients;
}

function closeAll(clients) {
  for (const c of clients) if (c) c.close();
}

// ---- scenarios -------------------------------------------------------------------------
async function fanout() {
  const { n, publishes, warmup = 5, concurrency = 200, transport = "websocket" } = params;
  const total = warmup + publishes;
  const counts = new Uint32Array(total);
  const lat = new Float64Array(n * publishes);
  let latCount = 0;
  let disorder = 0;
  let waiting = -1;
  let wake = null;
  const receiver = (state) => (p) => {
    const s = p.s;
    if (s !== state.last + 1) disorder++;
    state.last = s;
    if (s >= warmup) lat[latCount++] = now() - p.t;
    if (++counts[s] === n && s === waiting && wake) wake();
  };
  const clients = await connectMany(n, {
    transport,
    concurrency,
    join: "bench",
    label: `fanout(${transport}) connect`,
    setup: (c) => onPub(c, receiver({ last: -1 })),
  });
  const publisher = makeClient("websocket");
  await publisher.connect();
  const timeoutMs = params.publish_timeout_ms || 10000;
  const publishAndWait = (s) =>
    new Promise((resolve) => {
      waiting = s;
      const timer = setTimeout(() => {
        wake = null;
        resolve(false);
      }, timeoutMs);
      wake = () => {
        clearTimeout(timer);
        wake = null;
        resolve(true);
      };
      publisher.emit("publish", "bench", { t: now(), s, p: PAD });
    });
  for (let s = 0; s < warmup; s++) await publishAndWait(s);
  const a = snapshot();
  let timeouts = 0;
  for (let s = warmup; s < total; s++) {
    if (!(await publishAndWait(s))) timeouts++;
    progress(`fanout(${transport}) n=${n} publish ${s - warmup + 1}/${publishes}`);
    if (timeouts >= 3) break;
  }
  const b = snapshot();
  // Late stragglers still count as delivered (late, not lost): wait for them a little.
  const expected = n * publishes;
  for (let i = 0; i < 20 && latCount < expected; i++) await sleep(100);
  closeAll(clients);
  publisher.close();
  const u = usage(a, b);
  const delivered = Math.min(latCount, expected);
  return {
    ...u,
    n,
    publishes,
    delivered,
    lost: expected - delivered,
    out_of_order: disorder,
    publish_timeouts: timeouts,
    deliveries_per_s: delivered / u.wall_s,
    cpu_us_per_delivery: (serverCpu(u) * 1e6) / Math.max(1, delivered),
    user_us_per_delivery: (u.server_user_s * 1e6) / Math.max(1, delivered),
    sys_us_per_delivery: (u.server_sys_s * 1e6) / Math.max(1, delivered),
    ...percentiles(lat, latCount),
  };
}

async function overload() {
  const { n, rate, publishes, concurrency = 200 } = params;
  const counts = new Uint32Array(publishes);
  const lat = new Float64Array(n * publishes);
  let latCount = 0;
  let complete = 0;
  let allDone = null;
  const clients = await connectMany(n, {
    transport: "websocket",
    concurrency,
    join: "bench",
    label: "overload connect",
    setup: (c) =>
      onPub(c, (p) => {
        if (p.s < 0) return;
        lat[latCount++] = now() - p.t;
        if (++counts[p.s] === n && ++complete === publishes && allDone) allDone();
      }),
  });
  const publisher = makeClient("websocket");
  await publisher.connect();
  // warm-up, one publish in flight at a time, not measured
  for (let w = 1; w <= 3; w++) {
    publisher.emit("publish", "bench", { t: now(), s: -w, p: PAD });
    await sleep(50);
  }
  await sleep(200);
  const a = snapshot();
  const interval = 1000 / rate;
  const start = now();
  let k = 0;
  const finished = new Promise((resolve) => {
    allDone = resolve;
  });
  await new Promise((resolve) => {
    const tick = () => {
      // Catch up if the loop was late: the offered rate is what the scenario is about.
      const due = Math.min(publishes, Math.floor((now() - start) / interval) + 1);
      while (k < due) publisher.emit("publish", "bench", { t: now(), s: k++, p: PAD });
      progress(`overload n=${n} ${rate}/s published ${k}/${publishes}, delivered ${latCount}`);
      if (k < publishes) setTimeout(tick, Math.max(0, start + k * interval - now()));
      else resolve();
    };
    tick();
  });
  const publishedIn = (now() - start) / 1000;
  const drainMs = params.drain_timeout_ms || 60000;
  const drainTimer = setInterval(() => progress(`overload draining: delivered ${latCount}/${n * publishes}`), 250);
  await Promise.race([finished, sleep(drainMs)]);
  clearInterval(drainTimer);
  const b = snapshot();
  closeAll(clients);
  publisher.close();
  const u = usage(a, b);
  const expected = n * publishes;
  return {
    ...u,
    n,
    rate,
    publishes,
    publish_rate_achieved: publishes / publishedIn,
    delivered: latCount,
    lost: expected - latCount,
    deliveries_per_s: latCount / u.wall_s,
    cpu_us_per_delivery: (serverCpu(u) * 1e6) / Math.max(1, latCount),
    user_us_per_delivery: (u.server_user_s * 1e6) / Math.max(1, latCount),
    sys_us_per_delivery: (u.server_sys_s * 1e6) / Math.max(1, latCount),
    ...percentiles(lat, latCount),
  };
}

async function echoLoop({ binary }) {
  const { clients: count, duration_ms: durationMs, warmup_ms: warmupMs = 500 } = params;
  const size = params.size || 65536;
  const blob = binary ? Buffer.alloc(size, 7) : null;
  const clients = await connectMany(count, { transport: "websocket", concurrency: count, label: "echo connect" });
  let measuring = false;
  let running = true;
  let trips = 0;
  let bad = 0;
  let inflight = 0;
  const lat = [];
  const done = (c, t, ok) => {
    inflight--;
    if (!ok) bad++;
    if (measuring) {
      trips++;
      lat.push(now() - t);
    }
    one(c);
  };
  const one = (c) => {
    if (!running) return;
    inflight++;
    const t = now();
    if (binary) {
      c.emit("echo", blob, (reply) => done(c, t, Buffer.isBuffer(reply) && reply.length === size));
    } else if (c instanceof LeanSocket) {
      // The same packet as emit("echo", {t, p}) would make; the reply checked on its text.
      c.emitText(`["echo",{"t":${t},"p":"${PAD}"}]`, (args) =>
        done(c, t, parseFloat(args.slice(args.indexOf('"t":') + 4)) === t));
    } else {
      c.emit("echo", { t, p: PAD }, (reply) => done(c, t, reply && reply.t === t));
    }
  };
  clients.forEach(one);
  await sleep(warmupMs);
  measuring = true;
  const a = snapshot();
  const ticker = setInterval(() => progress(`${binary ? "binary" : "echo"} ${trips} round trips`), 250);
  await sleep(durationMs);
  const b = snapshot();
  measuring = false;
  const tripsAt = trips;
  running = false;
  clearInterval(ticker);
  for (let i = 0; i < 50 && inflight > 0; i++) await sleep(20);
  closeAll(clients);
  const u = usage(a, b);
  const result = {
    ...u,
    clients: count,
    round_trips: tripsAt,
    bad_replies: bad,
    unanswered: inflight,
    round_trips_per_s: tripsAt / u.wall_s,
    cpu_us_per_round_trip: (serverCpu(u) * 1e6) / Math.max(1, tripsAt),
    ...percentiles(lat, lat.length),
  };
  if (binary) result.mib_per_s = (tripsAt * size) / u.wall_s / 1048576;
  return result;
}

async function connect() {
  const { n, concurrency = 50 } = params;
  const warm = await connectMany(Math.min(20, n), { transport: "websocket", concurrency: 20, label: "warm-up" });
  closeAll(warm);
  await sleep(params.settle_ms || 1000);
  const rss0 = rssBytes(params.pid);
  const a = snapshot();
  const clients = await connectMany(n, { transport: "websocket", concurrency, label: "connect" });
  const b = snapshot();
  progress("connect: idle, letting memory settle", true);
  await sleep(params.settle_ms || 1000);
  const rss1 = rssBytes(params.pid);
  let appRss = null;
  try {
    [appRss] = await ack(clients[0], "mem");
  } catch (e) {
    appRss = null;
  }
  closeAll(clients);
  const u = usage(a, b);
  return {
    ...u,
    n,
    concurrency,
    connections_per_s: n / u.wall_s,
    cpu_us_per_connection: (serverCpu(u) * 1e6) / n,
    rss_before: rss0,
    rss_after: rss1,
    app_reported_rss: appRss,
    bytes_per_idle_connection: (rss1 - rss0) / n,
  };
}

const SCENARIOS = {
  fanout,
  polling: fanout,
  overload,
  echo: () => echoLoop({ binary: false }),
  binary: () => echoLoop({ binary: true }),
  connect,
};

async function main() {
  const deadline = setTimeout(() => {
    out({ type: "error", error: `deadline of ${params.deadline_ms} ms exceeded` });
    process.exit(2);
  }, params.deadline_ms || 300000);
  try {
    const result = await SCENARIOS[params.scenario]();
    out({ type: "result", result });
    clearTimeout(deadline);
    await sleep(100);
    process.exit(0);
  } catch (err) {
    out({ type: "error", error: String((err && err.stack) || err) });
    process.exit(1);
  }
}

main();
