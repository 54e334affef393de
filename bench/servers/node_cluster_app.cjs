// Node socket.io 4.8 on node:cluster with @socket.io/cluster-adapter, serving the benchmark app.
// Usage: node node_cluster_app.cjs --port 3000 --workers 2 [--host 127.0.0.1]
// The primary forks the workers and relays between their adapters (setupPrimary); node:cluster
// hands each accepted connection to a worker in turn. WebSocket-only clients need no sticky
// sessions. Prints READY once every worker listens.
"use strict";
const cluster = require("node:cluster");
const http = require("node:http");

const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf("--" + name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const host = arg("host", "127.0.0.1");
const port = Number(arg("port", "3000"));
const workers = Number(arg("workers", "2"));

if (cluster.isPrimary) {
  const { setupPrimary } = require("@socket.io/cluster-adapter");
  setupPrimary();
  let listening = 0;
  cluster.on("listening", () => {
    listening += 1;
    if (listening === workers) console.log(`READY ${port} pid=${process.pid} workers=${workers}`);
  });
  cluster.on("exit", (worker, code, signal) => {
    if (!stopping) console.error(`worker ${worker.process.pid} died (${signal || code})`);
  });
  let stopping = false;
  const stop = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers)) worker.kill("SIGTERM");
    setTimeout(() => process.exit(0), 2000).unref();
    cluster.on("exit", () => {
      if (Object.keys(cluster.workers).length === 0) process.exit(0);
    });
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  const { Server } = require("socket.io");
  const { createAdapter } = require("@socket.io/cluster-adapter");
  const httpServer = http.createServer();
  const io = new Server(httpServer, {
    cors: { origin: "*" },
    pingInterval: 25000,
    pingTimeout: 20000,
    maxHttpBufferSize: 1e6,
    perMessageDeflate: false,
    httpCompression: false,
    adapter: createAdapter(),
  });
  io.on("connection", (socket) => {
    socket.on("join", (room, ack) => {
      socket.join(room);
      if (typeof ack === "function") ack(true);
    });
    socket.on("echo", (...args) => {
      const ack = args.pop();
      if (typeof ack === "function") ack(...args);
    });
    socket.on("publish", (room, payload) => {
      io.to(room).emit("pub", payload);
    });
    socket.on("mem", (ack) => {
      if (typeof ack === "function") ack(process.memoryUsage().rss);
    });
  });
  process.on("SIGTERM", () => {
    io.close();
    process.exit(0);
  });
  httpServer.listen({ port, host, backlog: 4096 });
}
