// Clients for the permessage-deflate tests, printing one JSON line of results.
//
//   node deflate_client.mjs URL raw N TAKEOVER   N raw `ws` clients speaking Engine.IO/Socket.IO
//                                                by hand; TAKEOVER "no": they ask the server for
//                                                server_no_context_takeover. The first sends
//                                                `go` once all are connected; each reports the
//                                                data frames it read off the TCP socket (RSV1,
//                                                wire length, the payload as hex) and the
//                                                messages `ws` decoded, in order.
//   node deflate_client.mjs URL sio SIZE         the official socket.io-client (WebSocket only,
//                                                perMessageDeflate as by default): `echo` a
//                                                SIZE-character string, report the ack.
import { WebSocket } from "ws";
import { io } from "socket.io-client";

const [url, mode, arg, takeover] = process.argv.slice(2);
let reported = false;
const done = (result) => {
  if (reported) return;
  reported = true;
  // Exit once the line is written: a pipe takes it asynchronously, and exiting at once
  // cuts a long report at 64 KiB.
  process.stdout.write(JSON.stringify(result) + "\n", () => process.exit(0));
};
setTimeout(() => done({ error: "timeout" }), 15000);

function tap(socket, frames) {
  // Frames as they arrive, before `ws` inflates them: server frames are unmasked.
  let buf = Buffer.alloc(0);
  socket.on("data", (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      if (buf.length < 2) return;
      let len = buf[1] & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + len) return;
      const opcode = buf[0] & 0x0f;
      if (opcode === 1 || opcode === 2) {
        frames.push({ rsv1: (buf[0] & 0x40) !== 0, len, hex: buf.subarray(off, off + len).toString("hex") });
      }
      buf = buf.subarray(off + len);
    }
  });
}

if (mode === "raw") {
  const n = Number(arg);
  const perMessageDeflate = takeover === "no" ? { serverNoContextTakeover: true } : true;
  const results = [];
  let connected = 0;
  let finished = 0;
  const sockets = [];
  for (let i = 0; i < n; i++) {
    const ws = new WebSocket(`${url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`, {
      perMessageDeflate,
    });
    sockets.push(ws);
    const result = { extensions: null, frames: [], messages: [] };
    results.push(result);
    ws.on("upgrade", (res) => {
      result.extensions = res.headers["sec-websocket-extensions"] ?? null;
    });
    ws.on("open", () => tap(ws._socket, result.frames));
    ws.on("message", (data, isBinary) => {
      const text = isBinary ? null : data.toString();
      result.messages.push(text);
      if (text === null) return;
      if (text.startsWith("0{")) ws.send("40");
      else if (text === "2") ws.send("3");
      else if (text.startsWith("40{")) {
        if (++connected === n) sockets[0].send('42["go"]');
      } else if (text.startsWith('42["end"')) {
        if (++finished === n) done({ clients: results });
      }
    });
  }
} else if (mode === "sio") {
  const socket = io(url, { transports: ["websocket"], reconnection: false });
  socket.on("connect", async () => {
    const sent = "abcdefghij".repeat(Math.ceil(Number(arg) / 10)).slice(0, Number(arg));
    const reply = await socket.timeout(10000).emitWithAck("echo", sent);
    done({ same: reply === sent, length: reply.length });
  });
  socket.on("connect_error", (err) => done({ error: String(err) }));
}
