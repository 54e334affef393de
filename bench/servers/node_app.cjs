// The reference: Node socket.io 4.8 serving the benchmark app (join, echo, publish, mem).
// Usage: node node_app.cjs --port 3000 [--host 127.0.0.1]
//          [--redis redis://127.0.0.1:6379/0 --redis-key PREFIX] [--deflate]
// With --redis, a cluster node: @socket.io/redis-adapter 8.3 (classic format, `key` PREFIX)
// on node-redis, a publishing and a subscribing connection; READY once both are connected.
// With --deflate, permessage-deflate for clients that offer it (bench.deflate): ws's defaults
// (threshold 1024 bytes, zlib level 6, memLevel 8, window 15 bits), server_no_context_takeover
// when the client's offer asks for it. Off unless asked, as in every scenario of bench/run.
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const argv = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = argv.indexOf("--" + name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const host = arg("host", "127.0.0.1");
const port = Number(arg("port", "3000"));
const redisUrl = arg("redis", "");
const redisKey = arg("redis-key", "socket.io");
const deflate = argv.includes("--deflate");

const httpServer = http.createServer();
const io = new Server(httpServer, {
  cors: { origin: "*" },
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 1e6,
  perMessageDeflate: deflate ? { threshold: 1024 } : false,
  httpCompression: false,
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

const stop = () => {
  io.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

async function clusterNode() {
  const { createClient } = require("redis");
  const { createAdapter } = require("@socket.io/redis-adapter");
  const pubClient = createClient({ url: redisUrl });
  const subClient = pubClient.duplicate();
  for (const client of [pubClient, subClient]) {
    client.on("error", (err) => console.error("redis:", err.message));
  }
  await Promise.all([pubClient.connect(), subClient.connect()]);
  io.adapter(createAdapter(pubClient, subClient, { key: redisKey }));
}

(redisUrl ? clusterNode() : Promise.resolve()).then(
  () => {
    httpServer.listen({ port, host, backlog: 4096 }, () => {
      console.log(`READY ${port} pid=${process.pid}`);
    });
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
