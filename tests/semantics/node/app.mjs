// The semantics app on Node socket.io 4.8: the reference that tests/semantics/app.py
// (the same app on tidings) is compared with. A test drives both with the same
// client script and asserts the same observations.
//
// node app.mjs '<options JSON>'   (Node's spelling: {"cleanupEmptyChildNamespaces": true})
// Listens on 127.0.0.1 (any free port), prints {"ev": "ready", "port"} and serves until
// stdin closes. Everything the app sees is told to the client (events, acks), so the
// tests compare what a client observes.

import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { Server } from "socket.io";

const options = JSON.parse(process.argv[2] ?? "{}");
const httpServer = createServer();
const io = new Server(httpServer, { ...options });

// Connection middleware: a refusal reaches the client as connect_error, with its data.
io.of("/guarded").use((socket, next) => {
  if (socket.handshake.auth.token === "ok") return next();
  const err = new Error("not authorized");
  err.data = { code: 401 };
  next(err);
});
io.of("/guarded").on("connection", (socket) => {
  socket.on("handshake", (cb) => {
    const h = socket.handshake;
    cb({
      auth: h.auth, room: h.query.room, eio: h.query.EIO, transport: h.query.transport,
      address: h.address, secure: h.secure, xdomain: h.xdomain, path: h.url.split("?")[0],
      host: h.headers.host, issued: typeof h.issued, time: typeof h.time,
    });
  });
});

// new_namespace: every namespace made after this line, dynamic children included.
const created = [];
io.on("new_namespace", (nsp) => created.push(nsp.name));

const parent = io.of(/^\/dyn-\d+$/);
parent.on("connection", (socket) => {
  socket.on("where", (cb) => cb(socket.nsp.name));
});

const othersOf = (socket) => [...socket.rooms].filter((r) => r !== socket.id).sort();

function target(from, socket, spec) {
  let t = from === "socket" ? socket.broadcast : io;
  for (const room of spec.to ?? []) t = t.to(room);
  for (const room of spec.except ?? []) t = t.except(room);
  if (spec.local) t = t.local;
  return t;
}

io.on("connection", (socket) => {
  // socket.use: per-packet middleware; a rejection is the socket's "error" event.
  socket.use(([event], next) => {
    if (event === "forbidden") return next(new Error("forbidden event"));
    next();
  });
  socket.use((packet, next) => {
    if (packet[0] === "shout") packet[1] = String(packet[1]).toUpperCase();
    next();
  });
  socket.on("error", (err) => socket.emit("error-seen", err instanceof Error ? err.message : err));
  socket.on("forbidden", () => socket.emit("forbidden-ran"));
  socket.on("shout", (text, cb) => cb(text));

  // onAny / prependAny / offAny
  const seen = [];
  const first = (event) => seen.push("any:" + event);
  socket.onAny(first);
  socket.prependAny((event) => seen.push("prepended:" + event));
  socket.on("seen", (cb) => cb(seen.splice(0)));
  socket.on("off-any-one", (cb) => { socket.offAny(first); cb(); });
  socket.on("off-any-all", (cb) => { socket.offAny(); cb(); });

  // onAnyOutgoing / prependAnyOutgoing / offAnyOutgoing
  const sent = [];
  const out = (event, ...args) => sent.push(["out", event, ...args]);
  socket.onAnyOutgoing(out);
  socket.prependAnyOutgoing((event) => sent.push(["prepended", event]));
  socket.on("sent", (cb) => cb(sent.splice(0)));
  socket.on("off-out-one", (cb) => { socket.offAnyOutgoing(out); cb(); });
  socket.on("off-out-all", (cb) => { socket.offAnyOutgoing(); cb(); });
  socket.on("emit-me", (...args) => socket.emit("to-me", ...args));
  socket.on("broadcast-all", (cb) => { io.emit("to-all", "x"); cb(); });
  socket.on("broadcast-others", (cb) => { socket.broadcast.emit("to-others", "y"); cb(); });

  // send / write: the "message" event
  socket.on("message", (...args) => socket.send("echo", ...args));
  socket.on("write-me", () => socket.write("written"));
  socket.on("send-all", (cb) => { io.send("to everyone"); cb(); });
  socket.on("namespace-send", (cb) => { io.of("/").write("from the namespace"); cb(); });

  // new_namespace, cleanupEmptyChildNamespaces
  socket.on("created", (cb) => cb(created.slice()));
  socket.on("make-namespace", (name, cb) => { io.of(name); cb(); });
  socket.on("children", (cb) => cb(parent.children.size));

  // one socket's emits: timeout, volatile; acks given late or never
  socket.on("ask-me", async (ms, cb) => {
    try {
      cb({ answer: await socket.timeout(ms).emitWithAck("question", 1) });
    } catch (err) {
      cb({ error: "timeout" });
    }
  });
  socket.on("volatile-me", () => { socket.volatile.emit("volatile", 1); io.emit("sentinel"); });
  socket.on("maybe", (answer, cb) => { if (answer) cb("yes"); });
  socket.on("later", (cb) => setTimeout(() => cb("late"), 50));

  // rooms and broadcast operators
  socket.on("join", (rooms, cb) => { socket.join(rooms); cb(othersOf(socket), socket.rooms.has(socket.id)); });
  socket.on("leave", (room, cb) => { socket.leave(room); cb(othersOf(socket)); });
  socket.on("emit-to", (from, spec, cb) => {
    target(from, socket, spec).emit("targeted", from);
    io.emit("sentinel");
    cb();
  });
  socket.on("fetch", async (spec, cb) => {
    const found = await target("server", socket, spec).fetchSockets();
    cb(found.map((s) => [s.id, [...s.rooms].filter((r) => r !== s.id).sort()]).sort());
  });
  socket.on("sockets-join", async (spec, room, cb) => { target("server", socket, spec).socketsJoin(room); cb(); });
  socket.on("sockets-leave", async (spec, room, cb) => { target("server", socket, spec).socketsLeave(room); cb(); });
  socket.on("disconnect-sockets", (spec, close) => target("server", socket, spec).disconnectSockets(close));
  socket.on("bye", (close) => socket.disconnect(close));
  socket.on("ask-all", async (ms, cb) => {
    try {
      cb({ answers: (await io.timeout(ms).emitWithAck("question", 2)).sort() });
    } catch (err) {
      cb({ error: "timeout" });
    }
  });

  // disconnect reasons; the rooms are still there while "disconnecting"
  socket.on("disconnecting", (reason) => socket.broadcast.emit("leaving", socket.id, reason, othersOf(socket)));
  socket.on("disconnect", (reason) => io.emit("gone", socket.id, reason));
});

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ ev: "ready", port: httpServer.address().port }) + "\n");
});
createInterface({ input: process.stdin }).on("close", () => {
  io.close();
  process.exit(0);
});
