// A socket.io 4.8 cluster node for tidings' interop tests.
//
// node server.mjs <name> <format> <prefix> <redis url> [port]
//   format: classic   @socket.io/redis-adapter createAdapter(pub, sub, {key: prefix})
//           sharded   createShardedAdapter(pub, sub, {channelPrefix: prefix, subscriptionMode})
//                     ("sharded" is "dynamic"; "sharded-static", "sharded-dynamic-private")
//           streams   @socket.io/redis-streams-adapter createAdapter(client,
//                     {streamName: prefix, channelPrefix: prefix})
// Listens on 127.0.0.1 (port 0: any free port) and prints {"ev": "ready", "port"}.
//
// The app (the same as the tidings nodes run): a client's "join" (room) joins
// that room and acks "joined"; "echo" acks its arguments; the server-side
// events "ss-note" (recorded) and "ss-ask" (answered {node, args}).
// Reports: connection {sid}, disconnect {sid, reason}, client_event {sid, event, args},
// server_event {event, args, wants_ack}.
//
// Control commands on stdin, one JSON object a line ({"op", "ref", ...}); each is
// answered by {"ev": "done", ref, result} or {"ev": "fail", ref, message, partial}:
//   emit            {rooms, except, event, args, volatile?, local?}
//   emitWithAck     {rooms, except, event, args, timeout}    result: the replies
//   fetchSockets    {rooms, except}       result: [{id, handshake, rooms, data}]; keeps the handles
//   remote          {id, action, event?, args?, room?, close?, timeout?}  on a fetched handle:
//                   action emit | emitWithAck | join | leave | disconnect
//   socketsJoin / socketsLeave {rooms, except, room}
//   disconnectSockets {rooms, except, close}
//   serverSideEmit  {event, args}
//   serverSideEmitWithAck {event, args}     result: the answers (timeout: the adapter's, 5 s)
//   serverCount, allRooms (classic; sorted)
//   exit
// Binary data travels as {"$bin": base64} both ways.
//
// node server.mjs --listen hosts the nodes of a whole test run instead: it prints {"port": N},
// and each loopback connection to that port is one node, whose arguments (as above) are its
// first line, a JSON list; then the lines are as above, on that connection. "exit", or the
// connection's end, closes that node and its Redis clients.

import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { Server } from "socket.io";
import { createAdapter as createClassicAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { createAdapter as createStreamsAdapter } from "@socket.io/redis-streams-adapter";
import { createClient } from "redis";
import { hostSessions, lineWriter } from "../../e2e/node/host.mjs";

function toWire(value) {
  if (Buffer.isBuffer(value) || value instanceof Uint8Array || value instanceof ArrayBuffer) {
    return { $bin: Buffer.from(value).toString("base64") };
  }
  if (value instanceof Date) {
    return value.toJSON();
  }
  if (value instanceof Set) {
    return [...value].map(toWire);
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

/** One node, reporting through `out`; resolves once it listens. */
async function startNode([name, format, prefix, redisUrl, portArg], out) {
  const clients = [];

  async function makeAdapter() {
    const pub = createClient({ url: redisUrl });
    clients.push(pub);
    pub.on("error", (err) => out({ ev: "redis_error", message: String(err && err.message) }));
    await pub.connect();
    if (format === "streams") {
      return createStreamsAdapter(pub, { streamName: prefix, channelPrefix: prefix });
    }
    const sub = pub.duplicate();
    clients.push(sub);
    sub.on("error", (err) => out({ ev: "redis_error", message: String(err && err.message) }));
    await sub.connect();
    if (format === "classic") {
      return createClassicAdapter(pub, sub, { key: prefix });
    }
    if (format.startsWith("sharded")) {
      const subscriptionMode = format === "sharded" ? "dynamic" : format.slice("sharded-".length);
      return createShardedAdapter(pub, sub, { channelPrefix: prefix, subscriptionMode });
    }
    throw new Error(`unknown format ${format}`);
  }

  const httpServer = createServer();
  const io = new Server(httpServer, { adapter: await makeAdapter() });

  io.on("connection", (socket) => {
    if (socket.handshake.auth?.client !== undefined) {
      socket.data.client = socket.handshake.auth.client;
    }
    out({ ev: "connection", sid: socket.id });
    socket.on("join", (room, ack) => {
      socket.join(room);
      ack?.("joined");
    });
    socket.on("echo", (...args) => {
      const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
      ack?.(...args);
    });
    socket.onAny((event, ...args) => {
      if (typeof args[args.length - 1] === "function") {
        args.pop();
      }
      out({ ev: "client_event", sid: socket.id, event, args });
    });
    socket.on("disconnect", (reason) => out({ ev: "disconnect", sid: socket.id, reason }));
  });

  io.on("ss-note", (...args) => out({ ev: "server_event", event: "ss-note", args, wants_ack: false }));
  io.on("ss-ask", (...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    out({ ev: "server_event", event: "ss-ask", args, wants_ack: ack !== null });
    ack?.({ node: name, args });
  });

  function target(cmd, base = io) {
    let op = base;
    if (cmd.rooms?.length) {
      op = op.to(cmd.rooms);
    }
    if (cmd.except?.length) {
      op = op.except(cmd.except);
    }
    return op;
  }

  function describe(socket) {
    const { headers, query, auth, address, url, issued, time, secure, xdomain } = socket.handshake;
    return {
      id: socket.id,
      handshake: { headers, query, auth, address, url, issued, time, secure, xdomain },
      rooms: [...socket.rooms].sort(),
      data: socket.data ?? {},
    };
  }

  let fetched = new Map();

  function withTimeout(op, ms) {
    return ms != null ? op.timeout(ms) : op;
  }

  function ackResult(op, event, args) {
    return new Promise((resolve, reject) => {
      op.emit(event, ...args, (err, replies) => {
        if (err) {
          err.partial = replies ?? [];
          reject(err);
        } else {
          resolve(replies);
        }
      });
    });
  }

  async function run(cmd) {
    const args = fromWire(cmd.args ?? []);
    switch (cmd.op) {
      case "emit": {
        let op = target(cmd);
        if (cmd.volatile) {
          op = op.volatile;
        }
        if (cmd.local) {
          op = op.local;
        }
        if (cmd.compress === false) {
          op = op.compress(false);
        }
        op.emit(cmd.event, ...args);
        return null;
      }
      case "emitWithAck":
        return ackResult(target(cmd, io.timeout(cmd.timeout)), cmd.event, args);
      case "fetchSockets": {
        const sockets = await target(cmd).fetchSockets();
        fetched = new Map(sockets.map((s) => [s.id, s]));
        return sockets.map(describe).sort((a, b) => (a.id < b.id ? -1 : 1));
      }
      case "remote": {
        const socket = fetched.get(cmd.id);
        if (!socket) {
          throw new Error(`no fetched socket ${cmd.id}`);
        }
        switch (cmd.action) {
          case "emit":
            socket.emit(cmd.event, ...args);
            return null;
          case "emitWithAck":
            try {
              return await withTimeout(socket, cmd.timeout).emitWithAck(cmd.event, ...args);
            } catch (err) {
              err.partial = []; // a timeout, reported as one
              throw err;
            }
          case "join":
            socket.join(cmd.room);
            return null;
          case "leave":
            socket.leave(cmd.room);
            return null;
          case "disconnect":
            socket.disconnect(Boolean(cmd.close));
            return null;
          default:
            throw new Error(`unknown action ${cmd.action}`);
        }
      }
      case "socketsJoin":
        target(cmd).socketsJoin(cmd.room);
        return null;
      case "socketsLeave":
        target(cmd).socketsLeave(cmd.room);
        return null;
      case "disconnectSockets":
        target(cmd).disconnectSockets(Boolean(cmd.close));
        return null;
      case "serverSideEmit":
        io.serverSideEmit(cmd.event, ...args);
        return null;
      case "serverSideEmitWithAck":
        // The timeout is the adapter's requestsTimeout (5 s): Node has no per-call one.
        return ackResult({ emit: (...a) => io.serverSideEmit(...a) }, cmd.event, args);
      case "serverCount":
        return await io.of("/").adapter.serverCount();
      case "allRooms":
        return [...(await io.of("/").adapter.allRooms())].sort();
      default:
        throw new Error(`unknown op ${cmd.op}`);
    }
  }

  /** Close the node and its Redis clients; resolves once its port is free. */
  async function close() {
    await new Promise((resolve) => io.close(() => resolve()));
    for (const client of clients) {
      try {
        await client.disconnect();
      } catch {} // already closed
    }
  }

  await new Promise((resolve) => httpServer.listen(Number(portArg ?? 0), "127.0.0.1", resolve));
  out({ ev: "ready", name, port: httpServer.address().port });
  return { run, close };
}

/** Serve the command lines of `input`; `first` takes a line before any command (the
 *  arguments, in --listen mode) and resolves to the node; "exit" calls `exit`. */
function serveCommands(input, out, first, exit, ready = null) {
  const lines = createInterface({ input });
  lines.on("error", () => {}); // the input's own error: its "close" follows
  lines.on("line", async (line) => {
    if (!line.trim()) {
      return;
    }
    if (ready === null) {
      ready = first(JSON.parse(line));
      return;
    }
    let cmd;
    try {
      cmd = JSON.parse(line);
      const node = await ready; // lines that came meanwhile keep their order
      if (cmd.op === "exit") {
        await exit(node, cmd);
        return;
      }
      const result = await node.run(cmd);
      out({ ev: "done", ref: cmd.ref, result: result ?? null });
    } catch (err) {
      out({ ev: "fail", ref: cmd?.ref ?? null, message: String(err && err.message), partial: err?.partial ?? null });
    }
  });
  return { lines, ready: () => ready };
}

const outs = new Set();
process.on("unhandledRejection", (err) => {
  for (const out of outs) {
    out({ ev: "error", message: String(err && err.stack) });
  }
});

if (process.argv[2] === "--listen") {
  hostSessions((conn) => {
    const out = lineWriter(conn, toWire);
    outs.add(out);
    let closing = null;
    const close = (node) => (closing ??= node.close());
    const session = serveCommands(
      conn,
      out,
      (args) =>
        startNode(args, out).catch((err) => {
          out({ ev: "error", message: String(err && err.stack) });
          conn.end(); // the test sees the node gone
          return new Promise(() => {}); // and no command runs
        }),
      async (node, cmd) => {
        await close(node);
        out({ ev: "done", ref: cmd.ref, result: null });
        conn.end();
      },
    );
    conn.on("close", async () => {
      outs.delete(out);
      const ready = session.ready();
      if (ready !== null) {
        close(await ready);
      }
    });
  });
} else {
  const out = lineWriter(process.stdout, toWire);
  outs.add(out);
  const ready = startNode(process.argv.slice(2), out).catch((err) => {
    process.stderr.write(String(err && err.stack) + "\n");
    process.exit(1);
  });
  const exit = (node, cmd) => {
    out({ ev: "done", ref: cmd.ref, result: null });
    process.exit(0);
  };
  const { lines } = serveCommands(process.stdin, out, null, exit, ready);
  // The test closed our stdin (or died): leave at once.
  lines.on("close", () => process.exit(0));
}
