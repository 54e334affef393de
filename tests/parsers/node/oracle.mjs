// socket.io-msgpack-parser (and its notepack.io) as an oracle for tidings' msgpack parser.
//
// Reads one JSON object on stdin: {"encode": [packet, ...], "decode": [base64, ...]} and
// prints {"encoded": [base64, ...], "decoded": [packet | {"$error": message}, ...]}.
// Values in packets use {"$bin": base64} for a Buffer, {"$ab": base64} for an ArrayBuffer,
// {"$date": ms} for a Date and {"$undefined": true} for undefined.

import parser from "socket.io-msgpack-parser";

function fromWire(value) {
  if (Array.isArray(value)) return value.map(fromWire);
  if (value !== null && typeof value === "object") {
    if ("$bin" in value) return Buffer.from(value.$bin, "base64");
    if ("$ab" in value) {
      const bytes = Buffer.from(value.$ab, "base64");
      return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
    }
    if ("$date" in value) return new Date(value.$date);
    if ("$undefined" in value) return undefined;
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromWire(v)]));
  }
  return value;
}

function toWire(value) {
  if (value === undefined) return { $undefined: true };
  if (Buffer.isBuffer(value)) return { $bin: value.toString("base64") };
  if (value instanceof ArrayBuffer) return { $ab: Buffer.from(value).toString("base64") };
  if (value instanceof Date) return { $date: value.getTime() };
  if (Array.isArray(value)) return value.map(toWire);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWire(v)]));
  }
  return value;
}

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const work = JSON.parse(input);
  const encoder = new parser.Encoder();
  const encoded = (work.encode ?? []).map((packet) => {
    const [buffer, ...rest] = encoder.encode(fromWire(packet));
    if (rest.length) throw new Error("more than one message");
    return Buffer.from(buffer).toString("base64");
  });
  const decoded = (work.decode ?? []).map((message) => {
    const decoder = new parser.Decoder();
    let result = { $error: "nothing decoded" };
    decoder.on("decoded", (packet) => (result = toWire(packet)));
    try {
      decoder.add(Buffer.from(message, "base64"));
    } catch (err) {
      result = { $error: String(err && err.message) };
    }
    return result;
  });
  process.stdout.write(JSON.stringify({ encoded, decoded }));
});
