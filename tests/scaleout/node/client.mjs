// The official socket.io-client behind the proxy, scripted for tests/scaleout.
//
// Speaks the JSON lines of tests/e2e/node/client.mjs (so tests/e2e/harness.py's
// NodeClient and ClientSocket drive it), plus what the scale-out tests need:
//   - every HTTP request the client makes (long-polling requests and WebSocket
//     upgrades) is reported with the node the proxy sent it to (X-Upstream):
//     http {seq, method, path, status, upstream}, seq in the order requests started;
//   - connect reports say whether the session was recovered, and the Engine.IO
//     session id (its owner tag names the node that holds it);
//   - away {id}: the connection drops (as when a network goes) and the client does
//     not come back by itself; back {id}: it reconnects, with what it needs to recover.
//
// Commands ({"op", "ref", ...}; each answered by {"ev": "done", "ref"} or a "fail"):
//   connect {id, url, nsp?, manager?, opts?, auth?}, emit {id, event, args, ack?, timeout?},
//   emitWithAck {id, event, args, timeout?}, reply {id, event, mode, args?, delay?},
//   disconnect {id}, open {id}, away {id}, back {id}, exit {}.
// Reports: connect {id, sid, recovered, engine, transport}, connect_error {id, message, data},
// disconnect {id, reason}, event {id, event, args, wants_ack}, upgrade {manager, transport},
// ack {id, ref, args, error}, http {...}, done/fail {ref}.

import http from "node:http";
import { createInterface } from "node:readline";
import { Manager } from "socket.io-client";

const managers = new Map();
const sockets = new Map();
const replies = new Map();

function out(obj) {
  process.stdout.write(JSON.stringify(toWire(obj)) + "\n");
}

function toWire(value) {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array || value instanceof ArrayBuffer) {
    return { $bin: Buffer.from(value).toString("base64") };
  }
  if (value instanceof Error) return { $error: value.message };
  if (Array.isArray(value)) return value.map(toWire);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]));
  }
  return value;
}

function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$bin") return Buffer.from(value.$bin, "base64");
    return Object.fromEntries(keys.map((k) => [k, fromWire(value[k])]));
  }
  return value;
}

// Both transports make their requests through http.request (xmlhttprequest-ssl for
// long-polling, ws for the WebSocket), looked up when each request is made.
let httpSeq = 0;
const originalRequest = http.request;
http.request = function request(...args) {
  const req = originalRequest.apply(this, args);
  const seq = ++httpSeq;
  const report = (res, status) =>
    out({
      ev: "http", seq, method: req.method, path: req.path, status,
      upstream: res.headers["x-upstream"] ?? null,
    });
  req.on("response", (res) => report(res, res.statusCode));
  req.on("upgrade", (res) => report(res, 101));
  return req;
};

function getSocket(id) {
  const socket = sockets.get(id);
  if (!socket) throw new Error(`no socket ${id}`);
  return socket;
}

function managerOf(id) {
  return getSocket(id).io;
}

function connect(cmd) {
  const { id } = cmd;
  if (sockets.has(id)) throw new Error(`socket ${id} exists`);
  const managerName = cmd.manager ?? id;
  let manager = managers.get(managerName);
  if (!manager) {
    const opts = { reconnectionDelay: 100, reconnectionDelayMax: 200, ...(cmd.opts ?? {}) };
    manager = new Manager(cmd.url, opts);
    managers.set(managerName, manager);
    manager.on("open", () => {
      manager.engine.on("upgrade", (transport) =>
        out({ ev: "upgrade", manager: managerName, transport: transport.name }));
    });
    manager.on("reconnect", (attempt) => out({ ev: "reconnect", manager: managerName, attempt }));
  }
  const socket = manager.socket(cmd.nsp ?? "/", cmd.auth !== undefined ? { auth: fromWire(cmd.auth) } : {});
  sockets.set(id, socket);
  replies.set(id, new Map());
  socket.on("connect", () => {
    out({
      ev: "connect", id, sid: socket.id, recovered: socket.recovered,
      engine: manager.engine.id, transport: manager.engine.transport.name,
    });
  });
  socket.on("connect_error", (err) => out({ ev: "connect_error", id, message: err.message, data: err.data ?? null }));
  socket.on("disconnect", (reason) => out({ ev: "disconnect", id, reason }));
  socket.onAny((event, ...args) => {
    let ack = null;
    if (args.length > 0 && typeof args[args.length - 1] === "function") ack = args.pop();
    out({ ev: "event", id, event, args, wants_ack: ack !== null });
    if (ack !== null) answer(id, event, args, ack);
  });
  if (!socket.active) socket.connect();
}

function answer(id, event, args, ack) {
  const spec = replies.get(id)?.get(event) ?? replies.get(id)?.get("*") ?? { mode: "echo" };
  if (spec.mode === "none") return;
  const values = spec.mode === "value" ? fromWire(spec.args ?? []) : args;
  if (spec.delay) setTimeout(() => ack(...values), spec.delay);
  else ack(...values);
}

function reportAck(cmd) {
  return (err, ...res) => {
    if (err) out({ ev: "ack", id: cmd.id, ref: cmd.ref, args: null, error: err.message });
    else out({ ev: "ack", id: cmd.id, ref: cmd.ref, args: res, error: null });
  };
}

async function run(cmd) {
  switch (cmd.op) {
    case "connect":
      connect(cmd);
      return;
    case "emit": {
      const socket = getSocket(cmd.id);
      const args = fromWire(cmd.args ?? []);
      if (!cmd.ack) socket.emit(cmd.event, ...args);
      else if (cmd.timeout != null) socket.timeout(cmd.timeout).emit(cmd.event, ...args, reportAck(cmd));
      else socket.emit(cmd.event, ...args, (...res) => reportAck(cmd)(null, ...res));
      return;
    }
    case "emitWithAck": {
      const socket = getSocket(cmd.id);
      const target = cmd.timeout != null ? socket.timeout(cmd.timeout) : socket;
      target.emitWithAck(cmd.event, ...fromWire(cmd.args ?? [])).then(
        (value) => out({ ev: "ack", id: cmd.id, ref: cmd.ref, args: [value], error: null }),
        (err) => out({ ev: "ack", id: cmd.id, ref: cmd.ref, args: null, error: err.message }),
      );
      return;
    }
    case "reply":
      getSocket(cmd.id);
      replies.get(cmd.id).set(cmd.event, { mode: cmd.mode, args: cmd.args, delay: cmd.delay });
      return;
    case "disconnect":
      getSocket(cmd.id).disconnect();
      return;
    case "open":
      getSocket(cmd.id).connect();
      return;
    case "away": {
      // The connection closes under the socket ("transport close"), as when the
      // network goes; no reconnection until "back". The socket keeps its private
      // id and last offset, so it can recover.
      const manager = managerOf(cmd.id);
      manager.reconnection(false);
      manager.engine?.close();
      return;
    }
    case "hold":
      // Stay down when the connection drops (a node killed under it) until "back".
      managerOf(cmd.id).reconnection(false);
      return;
    case "back": {
      const manager = managerOf(cmd.id);
      manager.reconnection(true);
      getSocket(cmd.id).connect();
      return;
    }
    case "exit":
      for (const socket of sockets.values()) socket.disconnect();
      out({ ev: "done", ref: cmd.ref });
      process.exit(0);
      return;
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
    await run(cmd);
    out({ ev: "done", ref: cmd.ref ?? null });
  } catch (err) {
    out({ ev: "fail", ref: cmd?.ref ?? null, message: String(err && err.stack) });
  }
});
lines.on("close", () => process.exit(0));
process.on("unhandledRejection", (err) => out({ ev: "fail", ref: null, message: String(err && err.stack) }));
