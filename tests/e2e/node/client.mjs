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
//   exit       {}                                 close everything and end (this session)
//
// Reports: connect {id, sid, transport}, connect_error {id, message, data},
// disconnect {id, reason, description}, event {id, event, args, wants_ack},
// upgrade {id, transport}, reconnect_attempt/reconnect {id, attempt},
// ack {id, ref, args, error} (error: the timeout message, or null), done/fail {ref}.
//
// With no argument it holds one session on stdin/stdout and exits when stdin closes.
// With --listen it serves sessions over loopback TCP, one per connection, each with its
// own sockets and managers, all closed when that connection ends: one process serves
// every test of a run, and a test pays for a connection where it paid for a Node start.
// It prints {"port": N} first, and exits when its stdin closes.

import { createInterface } from "node:readline";
import { Manager } from "socket.io-client";
import { hostSessions } from "./host.mjs";

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

/** One test's sockets and managers, and where its reports go. */
class Session {
  constructor(write) {
    this.write = write;
    this.managers = new Map();
    this.sockets = new Map();
    this.replies = new Map(); // socket id -> Map(event -> reply spec)
    this.closed = false;
  }

  out(obj) {
    if (!this.closed) {
      this.write(JSON.stringify(toWire(obj)) + "\n");
    }
  }

  getSocket(id) {
    const socket = this.sockets.get(id);
    if (!socket) {
      throw new Error(`no socket ${id}`);
    }
    return socket;
  }

  watchManager(name, manager) {
    const onOpen = () => {
      this.out({ ev: "open", manager: name, transport: manager.engine.transport.name });
      manager.engine.on("upgrade", (transport) => {
        this.out({ ev: "upgrade", manager: name, transport: transport.name });
      });
    };
    manager.on("open", onOpen);
    manager.on("reconnect_attempt", (attempt) => this.out({ ev: "reconnect_attempt", manager: name, attempt }));
    manager.on("reconnect", (attempt) => this.out({ ev: "reconnect", manager: name, attempt }));
    manager.on("error", (err) => this.out({ ev: "manager_error", manager: name, message: String(err && err.message) }));
  }

  async connect(cmd) {
    const { id } = cmd;
    if (this.sockets.has(id)) {
      throw new Error(`socket ${id} exists`);
    }
    const managerName = cmd.manager ?? id;
    let manager = this.managers.get(managerName);
    if (!manager) {
      const opts = { reconnectionDelay: 100, reconnectionDelayMax: 200, ...(cmd.opts ?? {}) };
      if (opts.parser === "msgpack") {
        opts.parser = (await import("socket.io-msgpack-parser")).default;
      }
      manager = new Manager(cmd.url, opts);
      this.managers.set(managerName, manager);
      this.watchManager(managerName, manager);
    }
    const socketOpts = {};
    if (cmd.auth !== undefined) {
      socketOpts.auth = fromWire(cmd.auth);
    }
    const socket = manager.socket(cmd.nsp ?? "/", socketOpts);
    this.sockets.set(id, socket);
    this.replies.set(id, new Map());

    socket.on("connect", () => {
      this.out({ ev: "connect", id, sid: socket.id, transport: manager.engine.transport.name });
    });
    socket.on("connect_error", (err) => {
      this.out({ ev: "connect_error", id, message: err.message, data: err.data ?? null });
    });
    socket.on("disconnect", (reason, details) => {
      const description = details && (details.description ?? details.message ?? null);
      this.out({ ev: "disconnect", id, reason, description: description == null ? null : String(description) });
    });
    socket.onAny((event, ...args) => {
      let ack = null;
      if (args.length > 0 && typeof args[args.length - 1] === "function") {
        ack = args.pop();
      }
      this.out({ ev: "event", id, event, args, wants_ack: ack !== null });
      if (ack !== null) {
        this.answer(id, event, args, ack);
      }
    });
    // manager.socket() already connects when the manager auto-connects; a second
    // connect() while the manager is open would send a second CONNECT packet.
    if (!socket.active) {
      socket.connect();
    }
  }

  answer(id, event, args, ack) {
    const spec = this.replies.get(id)?.get(event) ?? this.replies.get(id)?.get("*") ?? { mode: "echo" };
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

  /** Disconnect every socket and close every manager; nothing is reported after. */
  close() {
    this.closed = true;
    for (const socket of this.sockets.values()) {
      try {
        socket.disconnect();
      } catch {} // a socket that cannot say goodbye is closed with its manager below
    }
    for (const manager of this.managers.values()) {
      try {
        manager._close?.();
      } catch {}
    }
  }

  async run(cmd) {
    const out = (obj) => this.out(obj);
    switch (cmd.op) {
      case "connect":
        await this.connect(cmd);
        return;
      case "emit": {
        let socket = this.getSocket(cmd.id);
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
        const socket = this.getSocket(cmd.id);
        const target = cmd.timeout != null ? socket.timeout(cmd.timeout) : socket;
        target.emitWithAck(cmd.event, ...fromWire(cmd.args ?? [])).then(
          (value) => out({ ev: "ack", id: cmd.id, ref: cmd.ref, args: [value], error: null }),
          (err) => out({ ev: "ack", id: cmd.id, ref: cmd.ref, args: null, error: err.message }),
        );
        return;
      }
      case "emitMany": {
        const socket = this.getSocket(cmd.id);
        for (let i = 0; i < cmd.count; i++) {
          socket.emit(cmd.event, i);
        }
        return;
      }
      case "reply":
        this.getSocket(cmd.id);
        this.replies.get(cmd.id).set(cmd.event, { mode: cmd.mode, args: cmd.args, delay: cmd.delay });
        return;
      case "disconnect":
        this.getSocket(cmd.id).disconnect();
        return;
      case "open":
        this.getSocket(cmd.id).connect();
        return;
      default:
        throw new Error(`unknown op ${cmd.op}`);
    }
  }
}

const sessions = new Set();

/** Serve one session on `input` lines; `end` is called once it is over (after "exit"). */
function serve(session, input, end) {
  sessions.add(session);
  const lines = createInterface({ input });
  lines.on("error", () => {}); // the input's own error: its "close" follows
  lines.on("line", async (line) => {
    if (!line.trim()) {
      return;
    }
    let cmd;
    try {
      cmd = JSON.parse(line);
      if (cmd.op === "exit") {
        session.out({ ev: "done", ref: cmd.ref });
        session.close();
        end();
        return;
      }
      await session.run(cmd);
      session.out({ ev: "done", ref: cmd.ref ?? null });
    } catch (err) {
      session.out({ ev: "fail", ref: cmd?.ref ?? null, message: String(err && err.stack) });
    }
  });
  const finish = () => {
    if (sessions.delete(session)) {
      session.close();
    }
  };
  lines.on("close", finish);
  return finish;
}

// An error no command owns is every open session's failure: it may be any of theirs.
function failAll(err) {
  for (const session of sessions) {
    session.out({ ev: "fail", ref: null, message: String(err && err.stack) });
  }
}
process.on("unhandledRejection", failAll);

if (process.argv[2] === "--listen") {
  process.on("uncaughtException", failAll);
  hostSessions((conn) => {
    // A peer that closes with reports unread resets the connection: "close" comes, "end" does not.
    conn.on("close", serve(new Session((text) => conn.writableEnded || conn.write(text)), conn, () => conn.end()));
  });
} else {
  // The test closed our stdin (or died): leave at once, whatever is open.
  serve(new Session((text) => process.stdout.write(text)), process.stdin, () => process.exit(0));
  process.stdin.on("end", () => process.exit(0));
}
