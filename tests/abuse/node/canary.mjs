// The canary: an ordinary socket.io-client that measures its acks while another client floods.
//
//   node canary.mjs <url> <count> <transport>
//
// Connects, prints {"ev": "connected"}, then waits for a line on stdin; then sends `count`
// "echo" events one after the other (each waits for the previous ack, 5 ms apart) and
// prints {"ev": "latencies", "ms": [...], "stats": <the server's "stats" ack>}.

import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const [url, count, transport] = [process.argv[2], Number(process.argv[3]), process.argv[4]];
const socket = io(url, { transports: [transport], reconnection: false });
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

socket.on("connect", () => out({ ev: "connected" }));
socket.on("connect_error", (err) => { out({ ev: "error", message: err.message }); process.exit(1); });
socket.on("disconnect", (reason) => out({ ev: "disconnect", reason }));

const lines = createInterface({ input: process.stdin });
lines.once("line", async () => {
  const ms = [];
  for (let i = 0; i < count; i++) {
    const start = process.hrtime.bigint();
    const reply = await socket.timeout(10000).emitWithAck("echo", i);
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (reply !== i) throw new Error(`echo ${i} came back as ${reply}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const stats = await socket.timeout(10000).emitWithAck("stats");
  // Exit once the line is written: a pipe takes it asynchronously.
  process.stdout.write(JSON.stringify({ ev: "latencies", ms, stats }) + "\n", () => {
    socket.disconnect();
    process.exit(0);
  });
});
