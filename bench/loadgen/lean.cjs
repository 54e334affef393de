// A lean Socket.IO v5 / Engine.IO v4 client for load generation.
//
// Same wire protocol as the official socket.io-client, with far less work per message:
// raw `net` sockets with hand-written RFC 6455 framing (WebSocket transport), or plain
// keep-alive HTTP requests (long-polling transport). Namespace "/" only; binary
// attachments over WebSocket only. The interface matches what loadgen.cjs needs of the
// official client: connect() -> Promise, on(event, fn), emit(event, ...args[, ack]), close().
"use strict";
const net = require("net");
const http = require("http");
const crypto = require("crypto");

const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 65536 });

function maskedFrame(payload, opcode) {
  // Client frames must be masked; the header and the payload go out in one writev.
  const n = payload.length;
  const headLen = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const head = Buffer.allocUnsafe(headLen + 4);
  head[0] = 0x80 | opcode;
  if (n < 126) {
    head[1] = 0x80 | n;
  } else if (n < 65536) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(n, 2);
  } else {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  const mask = (Math.random() * 0x100000000) >>> 0;
  head.writeUInt32LE(mask, headLen);
  const body = Buffer.allocUnsafeSlow(n); // own ArrayBuffer: 4-byte aligned
  payload.copy(body);
  const words = n >>> 2;
  if (words > 0) {
    const u32 = new Uint32Array(body.buffer, body.byteOffset, words);
    for (let i = 0; i < words; i++) u32[i] ^= mask; // little-endian: byte i ^= mask byte i%4
  }
  for (let i = words << 2; i < n; i++) body[i] ^= head[headLen + (i & 3)];
  return [head, body];
}

function hasBinary(value) {
  if (Buffer.isBuffer(value) || value instanceof ArrayBuffer) return true;
  if (Array.isArray(value)) return value.some(hasBinary);
  if (value && typeof value === "object") return Object.values(value).some(hasBinary);
  return false;
}

function deconstruct(value, buffers) {
  if (Buffer.isBuffer(value) || value instanceof ArrayBuffer) {
    buffers.push(Buffer.from(value));
    return { _placeholder: true, num: buffers.length - 1 };
  }
  if (Array.isArray(value)) return value.map((v) => deconstruct(v, buffers));
  if (value && typeof value === "object") {
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = deconstruct(v, buffers);
    return out;
  }
  return value;
}

function reconstruct(value, buffers) {
  if (Array.isArray(value)) return value.map((v) => reconstruct(v, buffers));
  if (value && typeof value === "object") {
    if (value._placeholder === true && typeof value.num === "number") return buffers[value.num];
    const out = {};
    for (const [k, v] of Object.entries(value)) out[k] = reconstruct(v, buffers);
    return out;
  }
  return value;
}

class LeanSocket {
  constructor(url, { transport = "websocket", path = "/socket.io/" } = {}) {
    const u = new URL(url);
    this.host = u.hostname;
    this.port = Number(u.port);
    this.path = path;
    this.transport = transport;
    this.handlers = new Map();
    this.textPrefix = null;
    this.textHandler = null;
    this.acks = new Map();
    this.nextAck = 0;
    this.connected = false;
    this.closed = false;
    this.sid = null;
    this.buf = null;
    this.fragments = null;
    this.binaryPending = null; // [kind, id, data, remaining, buffers]
    this.postQueue = [];
    this.posting = false;
    this.onConnect = null;
    this.onError = null;
  }

  on(event, fn) {
    this.handlers.set(event, fn);
    return this;
  }

  // A handler given the EVENT packet's text itself, for the events whose text starts with
  // `prefix`: it skips the JSON parse (the fan-out receivers' main cost otherwise).
  onText(prefix, fn) {
    this.textPrefix = prefix;
    this.textHandler = fn;
    return this;
  }

  connect(timeoutMs = 20000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error("connect timeout")), timeoutMs);
      const fail = (err) => {
        clearTimeout(timer);
        this.onConnect = this.onError = null;
        this.close();
        reject(err);
      };
      this.onConnect = () => {
        clearTimeout(timer);
        this.onConnect = this.onError = null;
        resolve();
      };
      this.onError = fail;
      if (this.transport === "websocket") this._openWebSocket();
      else this._openPolling().catch(fail);
    });
  }

  // Send an EVENT whose JSON array the caller wrote, and hand its ACK's text to `onAck`
  // unparsed (the echo loop's own check needs no JSON parse).
  emitText(arrayJson, onAck) {
    const id = String(this.nextAck++);
    onAck.textAck = true;
    this.acks.set(id, onAck);
    this._sendText(`42${id}${arrayJson}`, null);
  }

  emit(event, ...args) {
    let id = "";
    if (typeof args[args.length - 1] === "function") {
      id = String(this.nextAck++);
      this.acks.set(id, args.pop());
    }
    const data = [event, ...args];
    if (hasBinary(data)) {
      const buffers = [];
      const json = JSON.stringify(deconstruct(data, buffers));
      this._sendText(`45${buffers.length}-${id}${json}`, buffers);
    } else {
      this._sendText(`42${id}${JSON.stringify(data)}`, null);
    }
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.connected = false;
    if (this.sock) {
      if (!this.sock.destroyed) {
        const [h, b] = maskedFrame(Buffer.from([0x03, 0xe8]), 8);
        this.sock.write(Buffer.concat([h, b]));
        this.sock.end();
      }
    } else if (this.sid) {
      this._post("1").catch(() => {});
    }
  }

  // ---- WebSocket transport ------------------------------------------------------------
  _openWebSocket() {
    // `onread` hands each read straight to us in a shared buffer, skipping the stream
    // machinery ('data' events): the main per-message cost of a Node client otherwise.
    let upgraded = false;
    const sock = net.connect({
      host: this.host,
      port: this.port,
      onread: {
        buffer: READ_BUFFER,
        callback: (nread, buf) => {
          if (upgraded) {
            this._onData(buf, nread);
            return;
          }
          const all = this.buf ? Buffer.concat([this.buf, buf.subarray(0, nread)]) : buf.subarray(0, nread);
          const end = all.indexOf("\r\n\r\n");
          if (end < 0) {
            this.buf = Buffer.from(all);
            return;
          }
          this.buf = null;
          if (!all.subarray(0, 13).toString("latin1").startsWith("HTTP/1.1 101")) {
            this._fail(new Error("upgrade refused: " + all.subarray(0, 80).toString("latin1")));
            return;
          }
          upgraded = true;
          if (all.length > end + 4) {
            const rest = Buffer.from(all.subarray(end + 4));
            this._onData(rest, rest.length);
          }
        },
      },
    });
    this.sock = sock;
    sock.setNoDelay(true);
    const key = crypto.randomBytes(16).toString("base64");
    sock.write(
      `GET ${this.path}?EIO=4&transport=websocket HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\n` +
        `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
        "Sec-WebSocket-Version: 13\r\n\r\n",
    );
    sock.on("error", (err) => this._fail(err));
    sock.on("close", () => this._fail(new Error("transport closed")));
  }

  _fail(err) {
    if (this.onError) this.onError(err);
    else if (!this.closed) {
      this.closed = true;
      this.connected = false;
      const h = this.handlers.get("disconnect");
      if (h) h(String(err && err.message));
    }
  }

  _onData(chunk, nread) {
    // `chunk` may be the shared read buffer: whatever outlives this call is copied.
    const buf = this.buf ? Buffer.concat([this.buf, chunk.subarray(0, nread)]) : chunk;
    const size = this.buf ? buf.length : nread;
    let pos = 0;
    while (size - pos >= 2) {
      const b0 = buf[pos];
      const b1 = buf[pos + 1];
      let n = b1 & 0x7f;
      let head = pos + 2;
      if (n === 126) {
        if (size - pos < 4) break;
        n = buf.readUInt16BE(head);
        head += 2;
      } else if (n === 127) {
        if (size - pos < 10) break;
        n = Number(buf.readBigUInt64BE(head));
        head += 8;
      }
      if (size < head + n) break;
      const opcode = b0 & 0x0f;
      pos = head + n;
      if (!(b0 & 0x80) || (opcode === 0 && this.fragments)) {
        if (opcode !== 0) this.fragments = { opcode, parts: [] };
        this.fragments.parts.push(Buffer.from(buf.subarray(head, pos)));
        if (b0 & 0x80) {
          const { opcode: op, parts } = this.fragments;
          this.fragments = null;
          const whole = Buffer.concat(parts);
          this._onMessage(op, whole, 0, whole.length);
        }
        continue;
      }
      this._onMessage(opcode, buf, head, pos);
    }
    this.buf = pos < size ? Buffer.from(buf.subarray(pos, size)) : null;
  }

  _onMessage(opcode, buf, start, end) {
    if (opcode === 1) this._onEngine(buf.toString("utf8", start, end));
    else if (opcode === 2) this._onBinary(buf.subarray(start, end));
    else if (opcode === 9) {
      const [h, b] = maskedFrame(buf.subarray(start, end), 10);
      this.sock.cork();
      this.sock.write(h);
      this.sock.write(b);
      this.sock.uncork();
    } else if (opcode === 8) {
      this._fail(new Error("server closed"));
      this.sock.destroy();
    }
  }

  _sendText(text, buffers) {
    if (this.closed) return;
    if (this.transport !== "websocket") {
      if (buffers) throw new Error("binary over polling is not supported by the lean client");
      this.postQueue.push(text);
      this._flushPost();
      return;
    }
    const sock = this.sock;
    sock.cork();
    const [h, b] = maskedFrame(Buffer.from(text), 1);
    sock.write(h);
    sock.write(b);
    if (buffers) {
      for (const buffer of buffers) {
        const [bh, bb] = maskedFrame(buffer, 2);
        sock.write(bh);
        sock.write(bb);
      }
    }
    sock.uncork();
  }

  // ---- Long-polling transport ---------------------------------------------------------
  _request(method, body) {
    const sid = this.sid ? `&sid=${this.sid}` : "";
    const options = {
      host: this.host,
      port: this.port,
      method,
      agent,
      path: `${this.path}?EIO=4&transport=polling${sid}`,
      headers: body === undefined ? {} : { "content-type": "text/plain;charset=UTF-8" },
    };
    return new Promise((resolve, reject) => {
      const req = http.request(options, (res) => {
        const chunks = [];
        res.setEncoding("utf8");
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          if (res.statusCode === 200) resolve(chunks.join(""));
          else reject(new Error(`HTTP ${res.statusCode} ${method}: ${chunks.join("")}`));
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  async _openPolling() {
    const body = await this._request("GET");
    for (const packet of body.split("\x1e")) this._onEngine(packet);
    if (!this.sid) throw new Error("no open packet: " + body.slice(0, 80));
    this._poll();
  }

  _poll() {
    if (this.closed) return;
    this._request("GET").then(
      (body) => {
        for (const packet of body.split("\x1e")) this._onEngine(packet);
        this._poll();
      },
      (err) => this._fail(err),
    );
  }

  _post(body) {
    return this._request("POST", body);
  }

  _flushPost() {
    if (this.posting || this.postQueue.length === 0 || !this.sid) return;
    const body = this.postQueue.join("\x1e");
    this.postQueue = [];
    this.posting = true;
    this._post(body).then(
      () => {
        this.posting = false;
        this._flushPost();
      },
      (err) => {
        this.posting = false;
        this._fail(err);
      },
    );
  }

  // ---- Engine.IO and Socket.IO ----------------------------------------------------------
  _sendEngine(text) {
    if (this.transport === "websocket") {
      const [h, b] = maskedFrame(Buffer.from(text), 1);
      this.sock.cork();
      this.sock.write(h);
      this.sock.write(b);
      this.sock.uncork();
    } else {
      this.postQueue.push(text);
      this._flushPost();
    }
  }

  _onEngine(text) {
    const kind = text.charCodeAt(0);
    if (kind === 52 /* 4 message */) this._onSocketIO(text);
    else if (kind === 50 /* 2 ping */) this._sendEngine("3");
    else if (kind === 48 /* 0 open */) {
      this.sid = JSON.parse(text.slice(1)).sid;
      this._sendEngine("40");
    } else if (kind === 49 /* 1 close */) this._fail(new Error("engine close"));
  }

  _onSocketIO(text) {
    const kind = text.charCodeAt(1) - 48;
    if (kind === 2 && this.textPrefix !== null && text.startsWith(this.textPrefix)) {
      this.textHandler(text);
    } else if (kind === 2 || kind === 3) {
      let i = 2;
      while (text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
      if (kind === 3) {
        const id = text.slice(2, i);
        const ack = this.acks.get(id);
        if (ack && ack.textAck) {
          this.acks.delete(id);
          ack(text.slice(i));
          return;
        }
      }
      const data = JSON.parse(text.slice(i));
      this._dispatch(kind, text.slice(2, i), data);
    } else if (kind === 5 || kind === 6) {
      const dash = text.indexOf("-");
      const count = Number(text.slice(2, dash));
      let i = dash + 1;
      while (text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57) i++;
      const data = JSON.parse(text.slice(i));
      this.binaryPending = { kind: kind - 3, id: text.slice(dash + 1, i), data, count, buffers: [] };
      if (count === 0) this._onBinary(null);
    } else if (kind === 0) {
      this.connected = true;
      if (this.onConnect) this.onConnect();
    } else if (kind === 4) {
      if (this.onError) this.onError(new Error("connect_error " + text.slice(2)));
    } else if (kind === 1) {
      this._fail(new Error("server disconnect"));
    }
  }

  _onBinary(buffer) {
    const pending = this.binaryPending;
    if (!pending) return;
    if (buffer) pending.buffers.push(Buffer.from(buffer));
    if (pending.buffers.length < pending.count) return;
    this.binaryPending = null;
    this._dispatch(pending.kind, pending.id, reconstruct(pending.data, pending.buffers));
  }

  _dispatch(kind, id, data) {
    if (kind === 2) {
      const h = this.handlers.get(data[0]);
      if (h) h(...data.slice(1));
    } else {
      const ack = this.acks.get(id);
      if (ack) {
        this.acks.delete(id);
        ack(...data);
      }
    }
  }
}

module.exports = { LeanSocket, maskedFrame };
