// The reference socket.io-parser as a test oracle: reads a batch of work from
// stdin, writes what the reference encoder and decoder make of it to stdout.
// Bytes travel as {"$b64": "..."} both ways.
import { Decoder, Encoder } from "socket.io-parser";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const work = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const toBuffers = (v) => {
  if (Array.isArray(v)) return v.map(toBuffers);
  if (v && typeof v === "object") {
    if (typeof v.$b64 === "string") return Buffer.from(v.$b64, "base64");
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toBuffers(x)]));
  }
  return v;
};
const fromBuffers = (v) => {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return { $b64: Buffer.from(v).toString("base64") };
  if (Array.isArray(v)) return v.map(fromBuffers);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromBuffers(x)]));
  }
  return v;
};

const encoder = new Encoder();
const encoded = work.encode.map((p) => {
  const packet = { type: p.type, nsp: p.nsp, data: toBuffers(p.data) };
  if (p.id !== null) packet.id = p.id;
  if (p.data === null) delete packet.data;
  return encoder.encode(packet).map((part) => (typeof part === "string" ? part : Buffer.from(part).toString("base64")));
});

const decoded = work.decode.map((text) => {
  const decoder = new Decoder();
  let result = null;
  decoder.on("decoded", (p) => {
    result = p;
  });
  try {
    decoder.add(text);
    // A binary packet: feed it attachments 0, 1, 2... as the Python side does.
    for (let k = 0; result === null && decoder.reconstructor; k++) decoder.add(Buffer.from([k]));
  } catch (e) {
    return { error: String(e.message) };
  }
  return { packet: fromBuffers({ type: result.type, nsp: result.nsp, data: result.data, id: result.id }) };
});

process.stdout.write(JSON.stringify({ encoded, decoded }));
