// A scriptable reference socket.io 4.8 server for tidings' client tests.
//
// Usage: node server.mjs '{"port": 0, "pingInterval": 25000, "pingTimeout": 20000, "recovery": false,
//                          "key": null, "cert": null}'
// With "key" and "cert" (PEM file paths) it serves HTTPS (and wss://).
// ("parser": "msgpack" serves socket.io-msgpack-parser's format instead of the default)
// Prints {"ev": "listening", "port": N} once ready, then one JSON line per thing
// it sees. Takes JSON commands on stdin (one per line), each answered by
// {"ev": "done", "ref": ...} (plus what it produces):
//   emit        {sid?, nsp?, event, args}          to one socket (sid) or to every socket of nsp
//   ask         {sid, nsp?, event, args, timeout?} emitWithAck to one socket; reports "ack"
//   disconnect  {sid, nsp?}                        server-side socket.disconnect() (namespace only)
//   close       {sid, nsp?}                        close the socket's Engine.IO connection
//   exit        {}                                 exit at once (a crash, as far as clients know)
// Namespaces: "/" and "/admin" (its middleware refuses auth.token === "bad", with data).
// Events on every namespace: "echo" acks its arguments back; anything else is reported
// and acked with "ok", except "noack" (never acked), "ack" (never acked, but answered
// with an "ack" event, as in socket.io-client's own retry test), "flaky" (acked from
// its second delivery to the socket on, with the delivery count) and "slow" (acked
// with the delivery count after the given number of milliseconds).
// Binary data travels as {"$bin": base64} in these lines.
//
// With --listen it hosts servers for a whole test run instead: it prints {"port": N}, and
// each loopback connection to that port is one server, whose options are its first line;
// then the lines are as above, on that connection. "exit", or the connection's end, stops
// that server as a crash would (its clients' connections are cut, nothing is sent).

import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createInterface } from "node:readline";
import { Server } from "socket.io";
import { hostSessions, lineWriter } from "../../e2e/node/host.mjs";

function toWire(value) {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    return { $bin: Buffer.from(value).toString("base64") };
  }
  if (value instanceof ArrayBuffer) return toWire(Buffer.from(value));
  if (Array.isArray(value)) return value.map(toWire);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]));
  }
  return value;
}

function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$bin") return Buffer.from(value.$bin, "base64");
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromWire(v)]));
  }
  return value;
}

/** One server with `opts`, reporting through `out`; resolves once it listens. */
async function startServer(opts, out) {
  const parser = opts.parser === "msgpack" ? (await import("socket.io-msgpack-parser")).default : undefined;
  const httpServer = opts.key
    ? createHttpsServer({ key: readFileSync(opts.key), cert: readFileSync(opts.cert) })
    : createServer();
  const io = new Server(httpServer, {
    ...(parser ? { parser } : {}),
    pingInterval: opts.pingInterval ?? 25000,
    pingTimeout: opts.pingTimeout ?? 20000,
    maxHttpBufferSize: 1e7,
    ...(opts.recovery
      ? { connectionStateRecovery: { maxDisconnectionDuration: 60000, skipMiddlewares: true } }
      : {}),
  });

  function setup(nsp) {
    nsp.on("connection", (socket) => {
      out({
        ev: "connect",
        nsp: nsp.name,
        sid: socket.id,
        conn: socket.conn.id,
        auth: socket.handshake.auth,
        query: socket.handshake.query,
        header: socket.handshake.headers["x-test"] ?? null,
        recovered: socket.recovered,
        transport: socket.conn.transport.name,
      });
      socket.conn.on("upgrade", (transport) => {
        out({ ev: "upgrade", nsp: nsp.name, sid: socket.id, transport: transport.name });
      });
      socket.on("disconnect", (reason) => {
        out({ ev: "disconnect", nsp: nsp.name, sid: socket.id, reason });
      });
      socket.on("echo", (...args) => {
        const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
        out({ ev: "event", nsp: nsp.name, sid: socket.id, event: "echo", args });
        if (ack) ack(...args);
      });
      let deliveries = 0;
      const takeAck = (args) => (typeof args[args.length - 1] === "function" ? args.pop() : () => {});
      socket.on("ack", (...args) => {
        takeAck(args);
        out({ ev: "event", nsp: nsp.name, sid: socket.id, event: "ack", args });
        socket.emit("ack");
      });
      socket.on("flaky", (...args) => {
        const ack = takeAck(args);
        deliveries += 1;
        out({ ev: "event", nsp: nsp.name, sid: socket.id, event: "flaky", args });
        if (deliveries > 1) ack(deliveries);
      });
      socket.on("slow", (...args) => {
        const ack = takeAck(args);
        deliveries += 1;
        const count = deliveries;
        out({ ev: "event", nsp: nsp.name, sid: socket.id, event: "slow", args });
        setTimeout(() => ack(count), args[0]);
      });
      socket.onAny((event, ...args) => {
        if (["echo", "ack", "flaky", "slow"].includes(event)) return;
        const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
        out({ ev: "event", nsp: nsp.name, sid: socket.id, event, args, wants_ack: !!ack });
        if (ack && event !== "noack") ack("ok");
      });
    });
  }

  setup(io.of("/"));
  const admin = io.of("/admin");
  admin.use((socket, next) => {
    if (socket.handshake.auth && socket.handshake.auth.token === "bad") {
      const err = new Error("not allowed");
      err.data = { code: 403 };
      next(err);
    } else {
      next();
    }
  });
  setup(admin);

  function find(cmd) {
    const socket = io.of(cmd.nsp ?? "/").sockets.get(cmd.sid);
    if (!socket) throw new Error(`no socket ${cmd.sid} in ${cmd.nsp ?? "/"}`);
    return socket;
  }

  const conns = new Set();
  httpServer.on("connection", (conn) => {
    conns.add(conn);
    conn.on("close", () => conns.delete(conn));
  });

  async function run(cmd) {
    switch (cmd.op) {
      case "emit":
        if (cmd.sid) find(cmd).emit(cmd.event, ...(cmd.args ?? []));
        else io.of(cmd.nsp ?? "/").emit(cmd.event, ...(cmd.args ?? []));
        break;
      case "ask": {
        const socket = find(cmd);
        try {
          const reply = await socket
            .timeout(cmd.timeout ?? 5000)
            .emitWithAck(cmd.event, ...(cmd.args ?? []));
          out({ ev: "ack", ref: cmd.ref, args: [reply] });
        } catch (err) {
          out({ ev: "ack", ref: cmd.ref, error: String(err && err.message) });
        }
        break;
      }
      case "disconnect":
        find(cmd).disconnect();
        break;
      case "close":
        find(cmd).conn.close();
        break;
    }
  }

  /** As a crash looks to clients: every connection cut, nothing said; resolves once the
   *  port is free again. */
  function crash() {
    for (const conn of conns) conn.destroy();
    return new Promise((resolve) => io.close(() => resolve()));
  }

  await new Promise((resolve) => httpServer.listen(opts.port ?? 0, "127.0.0.1", resolve));
  return { port: httpServer.address().port, run, crash };
}

/** Serve the command lines of `input`; `first` takes a line before any command (the
 *  options, in --listen mode) and resolves to the server, or null; "exit" calls `exit`. */
function serveCommands(input, out, first, exit, ready = null) {
  const rl = createInterface({ input });
  rl.on("error", () => {}); // the input's own error: its "close" follows
  rl.on("line", async (line) => {
    if (!line.trim()) return;
    if (ready === null) {
      ready = first(line);
      return;
    }
    const server = await ready; // lines that came meanwhile keep their order
    if (server === null) return;
    const cmd = fromWire(JSON.parse(line));
    try {
      if (cmd.op === "exit") {
        await exit(server, cmd);
        return;
      }
      await server.run(cmd);
      out({ ev: "done", ref: cmd.ref });
    } catch (err) {
      out({ ev: "fail", ref: cmd.ref, message: String(err && err.message) });
    }
  });
  return { rl, ready: () => ready };
}

async function started(opts, out) {
  const server = await startServer(opts, out);
  out({ ev: "listening", port: server.port });
  return server;
}

if (process.argv[2] === "--listen") {
  hostSessions((conn) => {
    const out = lineWriter(conn, toWire);
    const stop = (server) => (server.stopped ??= server.crash());
    const session = serveCommands(
      conn,
      out,
      (line) =>
        started(JSON.parse(line), out).catch((err) => {
          out({ ev: "fail", message: String(err && err.message) });
          conn.end();
          return null;
        }),
      async (server, cmd) => {
        await stop(server);
        out({ ev: "done", ref: cmd.ref });
        conn.end();
      },
    );
    conn.on("close", async () => {
      const server = await session.ready();
      if (server) stop(server);
    });
  });
} else {
  const out = lineWriter(process.stdout, toWire);
  const server = await started(JSON.parse(process.argv[2] || "{}"), out);
  const { rl } = serveCommands(process.stdin, out, null, () => process.exit(0), Promise.resolve(server));
  rl.on("close", () => process.exit(0));
}
