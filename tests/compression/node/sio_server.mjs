// The reference socket.io server with perMessageDeflate on (threshold 1,024, as Node's
// default when enabled). Prints its port; `echo` acks its argument, `deflated` acks
// whether this socket's WebSocket negotiated permessage-deflate (and with what).
import { createServer } from "node:http";
import { Server } from "socket.io";

const httpServer = createServer();
const io = new Server(httpServer, { perMessageDeflate: { threshold: 1024 }, maxHttpBufferSize: 1e7 });
io.on("connection", (socket) => {
  socket.on("echo", (data, ack) => ack(data));
  socket.on("deflated", (ack) => {
    const ws = socket.conn.transport.socket;
    ack(ws && ws.extensions ? ws.extensions : null);
  });
});
httpServer.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: httpServer.address().port }) + "\n");
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
