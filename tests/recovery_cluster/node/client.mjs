// The official socket.io-client, made to leave one node and come back through another.
//
// JSON commands on stdin, one per line; each is answered {"ev": "done", ref} (or "fail"):
//   connect   {id, url, opts?}      a socket on a manager of its own; reconnection is off:
//                                   the test says when and where it comes back
//   emit      {id, event, args, ack?}  ack: report the reply as {"ev": "ack", id, ref, args}
//   drop      {id}                  close the transport under the socket, as a network drop
//                                   would (not a clean disconnect: the session is kept)
//   reconnect {id, url}             come back through `url` (another node): the client sends
//                                   its pid and last offset, as it does after any drop
//   exit      {}
// Reports: connect {id, sid, recovered}, disconnect {id, reason},
// event {id, event, args} (the offset, when the server adds one, is the last argument).

import { createInterface } from "node:readline";
import { Manager } from "socket.io-client";

const sockets = new Map();

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function get(id) {
  const found = sockets.get(id);
  if (!found) {
    throw new Error(`no socket ${id}`);
  }
  return found;
}

function connect(cmd) {
  const manager = new Manager(cmd.url, { transports: ["websocket"], ...(cmd.opts ?? {}), reconnection: false });
  const socket = manager.socket("/");
  sockets.set(cmd.id, { manager, socket });
  socket.on("connect", () => out({ ev: "connect", id: cmd.id, sid: socket.id, recovered: socket.recovered }));
  socket.on("connect_error", (err) => out({ ev: "connect_error", id: cmd.id, message: err.message }));
  socket.on("disconnect", (reason) => out({ ev: "disconnect", id: cmd.id, reason }));
  socket.onAny((event, ...args) => out({ ev: "event", id: cmd.id, event, args }));
}

function run(cmd) {
  switch (cmd.op) {
    case "connect":
      connect(cmd);
      return;
    case "emit": {
      const { socket } = get(cmd.id);
      if (cmd.ack) {
        socket.emit(cmd.event, ...(cmd.args ?? []), (...res) => out({ ev: "ack", id: cmd.id, ref: cmd.ref, args: res }));
      } else {
        socket.emit(cmd.event, ...(cmd.args ?? []));
      }
      return;
    }
    case "drop":
      get(cmd.id).manager.engine.close();
      return;
    case "reconnect": {
      const { manager, socket } = get(cmd.id);
      manager.uri = cmd.url;
      socket.connect();
      return;
    }
    case "exit":
      for (const { socket } of sockets.values()) {
        socket.disconnect();
      }
      out({ ev: "done", ref: cmd.ref });
      process.exit(0);
      return;
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (!line.trim()) {
    return;
  }
  let cmd;
  try {
    cmd = JSON.parse(line);
    run(cmd);
    out({ ev: "done", ref: cmd.ref ?? null });
  } catch (err) {
    out({ ev: "fail", ref: cmd?.ref ?? null, message: String(err && err.stack) });
  }
});
lines.on("close", () => process.exit(0));
