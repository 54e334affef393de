// The official @socket.io/redis-emitter 5.1 (node-redis 5 client), driven over JSON lines.
//
// node emitter.mjs <prefix> <redis url>      prints {"ev": "ready"}
// Commands ({"op", "ref", ...}, answered {"ev": "done", ref} or {"ev": "fail", ref, message}):
//   emit              {nsp?, rooms, except, event, args}
//   socketsJoin       {nsp?, rooms, except, room}
//   socketsLeave      {nsp?, rooms, except, room}
//   disconnectSockets {nsp?, rooms, except, close}
//   serverSideEmit    {nsp?, event, args}
// Binary data arrives as {"$bin": base64} and is sent as a Buffer.

import { createInterface } from "node:readline";
import { Emitter } from "@socket.io/redis-emitter";
import { createClient } from "redis";

const [prefix, redisUrl] = process.argv.slice(2);

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
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

const client = createClient({ url: redisUrl });
client.on("error", (err) => out({ ev: "redis_error", message: String(err && err.message) }));
await client.connect();
const emitter = new Emitter(client, { key: prefix });

function target(cmd) {
  let op = emitter.of(cmd.nsp ?? "/");
  if (cmd.rooms?.length) {
    op = op.to(cmd.rooms);
  }
  if (cmd.except?.length) {
    op = op.except(cmd.except);
  }
  return op;
}

function run(cmd) {
  const args = fromWire(cmd.args ?? []);
  switch (cmd.op) {
    case "emit":
      target(cmd).emit(cmd.event, ...args);
      return;
    case "socketsJoin":
      target(cmd).socketsJoin(cmd.room);
      return;
    case "socketsLeave":
      target(cmd).socketsLeave(cmd.room);
      return;
    case "disconnectSockets":
      target(cmd).disconnectSockets(Boolean(cmd.close));
      return;
    case "serverSideEmit":
      emitter.of(cmd.nsp ?? "/").serverSideEmit(cmd.event, ...args);
      return;
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

out({ ev: "ready" });
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (!line.trim()) {
    return;
  }
  let cmd;
  try {
    cmd = JSON.parse(line);
    run(cmd);
    out({ ev: "done", ref: cmd.ref, result: null });
  } catch (err) {
    out({ ev: "fail", ref: cmd?.ref ?? null, message: String(err && err.message), partial: null });
  }
});
lines.on("close", () => process.exit(0));
