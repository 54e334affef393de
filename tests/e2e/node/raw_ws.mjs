// A bare WebSocket (no Socket.IO client), to send the server whatever bytes a test wants.
//
// Usage: node raw_ws.mjs ws://127.0.0.1:PORT/socket.io/?EIO=4&transport=websocket
// Commands on stdin, one JSON per line, each answered by {"ev": "done", "ref": ...}:
//   send {data}          a text message
//   sendBinary {data}    a binary message, data as {"$bin": base64}
//   close {}             close the socket
// Reports (each with t, milliseconds since start): open, message {data, binary},
// close {code, reason}, error {message}.

import { createInterface } from "node:readline";
import WebSocket from "ws";

const start = performance.now();

function out(obj) {
  // t: milliseconds since start, for tests (and people) reading timings
  process.stdout.write(JSON.stringify({ ...obj, t: Math.round(performance.now() - start) }) + "\n");
}

const ws = new WebSocket(process.argv[2]);
ws.on("open", () => out({ ev: "open" }));
ws.on("message", (data, isBinary) => {
  if (isBinary) {
    out({ ev: "message", binary: true, data: { $bin: Buffer.from(data).toString("base64") } });
  } else {
    out({ ev: "message", binary: false, data: data.toString() });
  }
});
ws.on("close", (code, reason) => out({ ev: "close", code, reason: reason.toString() }));
ws.on("error", (err) => out({ ev: "error", message: err.message }));

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (!line.trim()) {
    return;
  }
  let cmd;
  try {
    cmd = JSON.parse(line);
    if (cmd.op === "send") {
      ws.send(cmd.data);
    } else if (cmd.op === "sendBinary") {
      ws.send(Buffer.from(cmd.data.$bin, "base64"));
    } else if (cmd.op === "close") {
      ws.close();
    } else {
      throw new Error(`unknown op ${cmd.op}`);
    }
    out({ ev: "done", ref: cmd.ref ?? null });
  } catch (err) {
    out({ ev: "fail", ref: cmd?.ref ?? null, message: String(err && err.stack) });
  }
});
lines.on("close", () => process.exit(0));
