// The reference: Node socket.io 4.8 serving the benchmark app (join, echo, publish, mem).
// Usage: node node_app.cjs --port 3000 [--host 127.0.0.1]
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

const httpServer = http.createServer();
const io = new Server(httpServer, {
  cors: { origin: "*" },
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 1e6,
  perMessageDeflate: false,
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
httpServer.listen({ port, host, backlog: 4096 }, () => {
  console.log(`READY ${port} pid=${process.pid}`);
});
