// Hosting a script's sessions for a whole test run: `node <script> --listen` prints
// {"port": N} and serves each loopback connection to that port as one session (one
// client, server or cluster node), so a test pays for a connection, not a Node start.
// The process leaves when its stdin ends: the test run is over (or died).

import { createServer } from "node:net";

/** Serve each connection with `session(conn)`; print the port once listening. */
export function hostSessions(session) {
  const host = createServer((conn) => {
    conn.setNoDelay(true);
    conn.on("error", () => {}); // then "close", which ends the session
    session(conn);
  });
  host.listen(0, "127.0.0.1", () => {
    process.stdout.write(JSON.stringify({ port: host.address().port }) + "\n");
  });
  process.stdin.on("end", () => process.exit(0));
  process.stdin.resume();
}

/** A JSON-lines writer to `stream` that drops what comes after the stream's end. */
export function lineWriter(stream, toWire) {
  return (obj) => {
    if (!stream.destroyed && !stream.writableEnded) {
      stream.write(JSON.stringify(toWire(obj)) + "\n");
    }
  };
}
