// A scriptable socket.io-client for tidings' end-to-end tests.
//
// The official client, driven by JSON commands on stdin (one per line) and
// reporting everything it sees as JSON lines on stdout, so that every
// assertion lives in the Python test. Binary data travels as {"$bin": base64}
// both ways and becomes a Buffer here.
//
// Commands ({"op": ..., "ref": ...}; every command is answered by a line
// {"ev": "done", "ref": ...} once carried out, or {"ev": "fail", ...}):
//   connect    {id, url, nsp?, manager?, opts?}  new socket (sharing manager `manager` if it exists);
//                                                 opts.parser "msgpack": socket.io-msgpack-parser
//   emit       {id, event, args, ack?, timeout?, volatile?}  ack: report the reply as an "ack" line
//   emitWithAck {id, event, args, timeout?}       the promise API; reports an "ack" line
//   emitMany   {id, event, count}                 emit event(i) for i in 0..count-1 in one go
//   reply      {id, event, mode, args?, delay?}   how to answer a server ack request:
//                                                 "echo" (default), "value" (with args), "none"
//   disconnect {id}                               socket.disconnect()
//   open       {id}                               socket.connect() again after a disconnect
//   exit       {}                                 close everything and exit 0
//
// Reports: connect {id, sid, transport}, connect_error {id, message, data},
// disconnect {id, reason, description}, event {id, event, args, wants_ack},
// upgrade {id, transport}, reconnect_attempt/reconnect {id, attempt},
// ack {id, ref, args, error} (error: the timeout message, or null), done/fail {ref}.

import { createInterface } from "node:readline";
import { Manager } from "socket.io-client";

const managers = new Map();
const sockets = new Map();
const replies = new Map(); // socket id -> Map(event -> reply spec)

function out(obj) {
  process.stdout.write(JSON.stringify(toWire(obj)) + "\n");
}

function toWire(value) {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    return { $bin: Buffer.from(value).toString("base64") };
  }
  if (value instanceof ArrayBuffer) {
    return { $bin: Buffer.from(value).toString("base64") };
  }
  if (value instanceof Error) {
    return { $error: value.message };
  }
  if (Array.isArray(value)) {
    return value.map(toWire);
  }
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]));
  }
  return value;
}

function fromWire(value) {
  if (Array.isArray(value)) {
    return value.map(fromWire);
  }
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$bin") {
      return Buffer.from(value.$bin, "base64");
    }
    return Object.fromEntries(keys.map((k) => [k, fromWire(value[k])]));
  }
  return value;
}

function getSocket(id) {
  const socket = sockets.get(id);
  if (!socket) {
    throw new Error(`no socket ${id}`);
  }
  return socket;
}

function watchManager(name, manager) {
  const onOpen = () => {
    out({ ev: "open", manager: name, transport: manager.engine.transport.name });
    manager.engine.on("upgrade", (transport) => {
      out({ ev: "upgrade", manager: name, transport: transport.name });
    });
  };
  manager.on("open", onOpen);
  manager.on("reconnect_attempt", (attempt) => out({ ev: "reconnect_attempt", manager: name, attempt }));
  manager.on("reconnect", (attempt) => out({ ev: "reconnect", manager: name, attempt }));
  manager.on("error", (err) => out({ ev: "manager_error", manager: name, message: String(err && err.message) }));
}

async function connect(cmd) {
  const { id } = cmd;
  if (sockets.has(id)) {
    throw new Error(`socket ${id} exists`);
  }
  const managerName = cmd.manager ?? id;
  let manager = managers.get(managerName);
  if (!manager) {
    const opts = { reconnectionDelay: 100, reconnectionDelayMax: 200, ...(cmd.opts ?? {}) };
    if (opts.parser === "msgpack") {
      opts.parser = (await import("socket.io-msgpack-parser")).default;
    }
    manager = new Manager(cmd.url, opts);
    managers.set(managerName, manager);
    watchManager(managerName, manager);
  }
  const socketOpts = {};
  if (cmd.auth !== undefined) {
    socketOpts.auth = fromWire(cmd.auth);
  }
  const socket = manager.socket(cmd.nsp ?? "/", socketOpts);
  sockets.set(id, socket);
  replies.set(id, new Map());

  socket.on("connect", () => {
    out({ ev: "connect", id, sid: socket.id, transport: manager.engine.transport.name });
  });
  socket.on("connect_error", (err) => {
    out({ ev: "connect_error", id, message: err.message, data: err.data ?? null });
  });
  socket.on("disconnect", (reason, details) => {
    const description = details && (details.description ?? details.message ?? null);
    out({ ev: "disconnect", id, reason, description: description == null ? null : String(description) });
  });
  socket.onAny((event, ...args) => {
    let ack = null;
    if (args.length > 0 && typeof args[args.length - 1] === "function") {
      ack = args.pop();
    }
    out({ ev: "event", id, event, args, wants_ack: ack !== null });
    if (ack !== null) {
      answer(id, event, args, ack);
    }
  });
  // manager.socket() already connects when the manager auto-connects; a second
  // connect() while the manager is open would send a second CONNECT packet.
  if (!socket.active) {
    socket.connect();
  }
}

function answer(id, event, args, ack) {
  const spec = replies.get(id)?.get(event) ?? replies.get(id)?.get("*") ?? { mode: "echo" };
  if (spec.mode === "none") {
    return;
  }
  const values = spec.mode === "value" ? fromWire(spec.args ?? []) : args;
  if (spec.delay) {
    setTimeout(() => ack(...values), spec.delay);
  } else {
    ack(...values);
  }
}

async function run(cmd) {
  switch (cmd.op) {
    case "connect":
      await connect(cmd);
      return;
    case "emit": {
      let socket = getSocket(cmd.id);
      const args = fromWire(cmd.args ?? []);
      if (cmd.volatile) {
        socket = socket.volatile;
      }
      if (cmd.ack) {
        if (cmd.timeout != null) {
          socket.timeout(cmd.timeout).emit(cmd.event, ...args, (err, ...res) => {
            if (err) {
              out({ ev: "ack", id: cmd.id, ref: cmd.ref, args: null, error: err.message });
            } else {
              out({ ev: "ack", id: cmd.id, ref: cmd.ref, args: res, error: null });
            }
          });
        } else {
          socket.emit(cmd.event, ...args, (...res) => out({ ev: "ack", id: cmd.id, ref: cmd.ref, args: res, error: null }));
        }
      } else {
        socket.emit(cmd.event, ...args);
      }
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
    case "emitMany": {
      const socket = getSocket(cmd.id);
      for (let i = 0; i < cmd.count; i++) {
        socket.emit(cmd.event, i);
      }
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
    case "exit":
      for (const socket of sockets.values()) {
        socket.disconnect();
      }
      for (const manager of managers.values()) {
        manager._close?.();
      }
      out({ ev: "done", ref: cmd.ref });
      process.exit(0);
      return;
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

const lines = createInterface({ input: process.stdin });
lines.on("line", async (line) => {
  if (!line.trim()) {
    return;
  }
  let cmd;
  try {
    cmd = JSON.parse(line);
    await run(cmd);
    out({ ev: "done", ref: cmd.ref ?? null });
  } catch (err) {
    out({ ev: "fail", ref: cmd?.ref ?? null, message: String(err && err.stack) });
  }
});
// The test closed our stdin (or died): leave at once, whatever is open.
lines.on("close", () => process.exit(0));
process.on("unhandledRejection", (err) => out({ ev: "fail", ref: null, message: String(err && err.stack) }));
