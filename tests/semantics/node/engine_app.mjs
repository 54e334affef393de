// The engine-hooks app on Node socket.io 4.8: the reference for tests/semantics/engine_app.py
// (the same app on tidings). A test sends the same raw HTTP requests to both, and reads
// back what the engine's hooks saw through a socket.io client ("engine-errors").
//
// node engine_app.mjs '<options JSON>'   (Node's spelling: {"cookie": {"name": "sess"}})
// Listens on 127.0.0.1 (any free port), prints {"ev": "ready", "port"} and serves until
// stdin closes.

import { createServer } from "node:http";
import { createInterface } from "node:readline";
import { Server } from "socket.io";

const options = JSON.parse(process.argv[2] ?? "{}");
const httpServer = createServer();
const io = new Server(httpServer, {
  ...options,
  // ?deny=<message> refuses a new session with that message; ?deny= with none.
  allowRequest: (req, callback) => {
    const deny = new URL(req.url, "http://x").searchParams.get("deny");
    if (deny === null) return callback(null, true);
    callback(deny === "" ? null : deny, false);
  },
});

// ?id=<x> names the new session "id-<x>"; ?aid=<x> "aid-<x>", from a promise resolved a
// turn later; otherwise Node's own random id.
const generateId = io.engine.generateId.bind(io.engine);
io.engine.generateId = (req) => {
  const query = new URL(req.url, "http://x").searchParams;
  const id = query.get("id");
  const later = query.get("aid");
  if (later !== null) return new Promise((resolve) => setImmediate(() => resolve("aid-" + later)));
  return id === null ? generateId(req) : "id-" + id;
};

const errors = [];
io.engine.on("connection_error", (err) => {
  errors.push({ code: err.code, message: err.message, context: err.context ?? null });
});
io.engine.on("initial_headers", (headers, req) => { headers["x-initial"] = "yes"; });
io.engine.on("headers", (headers, req) => {
  headers["x-every"] = new URL(req.url, "http://x").searchParams.has("sid") ? "sid" : "handshake";
});

io.on("connection", (socket) => {
  socket.on("engine-errors", (cb) => cb(errors.splice(0)));
  socket.on("big", (n) => socket.emit("big", "x".repeat(n)));
  socket.on("plain", (n) => socket.compress(false).emit("big", "x".repeat(n)));
  socket.on("mixed", (n) => {
    socket.compress(false).emit("big", "x".repeat(n));
    socket.emit("small", 1);
  });
  socket.on("echo", (value, cb) => cb(value));
  socket.on("engine-id", (cb) => cb(socket.conn.id));
});

httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ ev: "ready", port: httpServer.address().port }) + "\n");
});
createInterface({ input: process.stdin }).on("close", () => {
  io.close();
  process.exit(0);
});
