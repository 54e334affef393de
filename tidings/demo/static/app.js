// The chat page. Messages are keyed by the offset the server gives each one, so a
// room's history, what arrives live and what is replayed after a reconnect merge
// into one list, in order, each message once. What is typed while offline waits in
// an outbox and goes out, in order, once the page is back in its rooms.
"use strict";

const $ = (id) => document.getElementById(id);
const LIMITS = { maxText: 2000, maxImageBytes: 1_000_000, maxImageSide: 1600 };
const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];
const ROOM_RE = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
const TYPING_SHOWN_MS = 3500;
const TYPING_EVERY_MS = 2000;
const GROUP_WITHIN_S = 300;
const STORE = { nick: "tidings.nick", rooms: "tidings.rooms", active: "tidings.active" };

const state = {
  nick: null,
  rooms: new Map(), // name -> Room
  active: null,
  outbox: [], // {seq, kind, room, cid, ...}: waiting for a connection, in the order written
  inflight: new Map(), // cid -> item sent, not yet acknowledged
  ready: false, // connected, and back in our rooms
  seq: 0,
  lastTypingSent: 0,
};
// For tests and the curious (devtools): what arrived live, and anything odd about it.
const stats = { live: 0, liveDuplicates: 0, outOfOrder: 0, recoveries: 0, connects: 0 };
const liveSeen = new Set();

let socket = null;

// -- small helpers ---------------------------------------------------------------

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text; // never innerHTML: text is what people typed
  return node;
}

function newId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function hue(nick) {
  let h = 0;
  for (const c of nick) h = (h * 31 + c.codePointAt(0)) % 360;
  return h;
}

function avatar(nick, small) {
  const node = el("span", small ? "avatar small" : "avatar", [...nick][0].toUpperCase());
  node.style.setProperty("--hue", hue(nick));
  node.setAttribute("aria-hidden", "true");
  return node;
}

function formatTime(at) {
  const date = new Date(at * 1000);
  const sameDay = date.toDateString() === new Date().toDateString();
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return sameDay ? time : `${date.toLocaleDateString([], { month: "short", day: "numeric" })}, ${time}`;
}

function formatBytes(n) {
  return n >= 100_000 ? `${(n / 1_000_000).toFixed(1)} MB` : `${Math.round(n / 1000)} kB`;
}

// Text with its web addresses made into links; everything else stays text.
function linkify(text) {
  const frag = document.createDocumentFragment();
  const re = /\bhttps?:\/\/[^\s<>"]+[^\s<>".,;:!?)\]]/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    frag.append(text.slice(last, m.index));
    const a = el("a", null, m[0]);
    a.href = m[0];
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    frag.append(a);
    last = m.index + m[0].length;
  }
  frag.append(text.slice(last));
  return frag;
}

function save() {
  localStorage.setItem(STORE.rooms, JSON.stringify([...state.rooms.keys()]));
  if (state.active) localStorage.setItem(STORE.active, state.active);
}

// -- rooms and messages ------------------------------------------------------------

class Room {
  constructor(name) {
    this.name = name;
    this.list = el("ol", "messages");
    this.list.dataset.room = name;
    this.list.setAttribute("aria-live", "polite");
    this.list.setAttribute("aria-label", `Messages in #${name}`);
    this.byOffset = new Map(); // offset -> <li>
    this.pending = new Map(); // cid -> <li>
    this.members = [];
    this.typing = new Map(); // nick -> until (ms)
    this.unread = 0;
    this.joined = false;
    this.loaded = false;
  }
}

function roomOf(name) {
  let room = state.rooms.get(name);
  if (!room) {
    room = new Room(name);
    state.rooms.set(name, room);
  }
  return room;
}

function messageNode(msg) {
  const item = el("li", "msg");
  item.dataset.nick = msg.nick;
  item.dataset.cid = msg.cid;
  item.dataset.at = msg.at;
  if (msg.nick === state.nick) item.classList.add("mine");
  const body = el("div", "msg-body");
  const head = el("div", "msg-head");
  head.append(el("span", "who", msg.nick));
  const when = el("time", null, formatTime(msg.at));
  when.dateTime = new Date(msg.at * 1000).toISOString();
  when.title = new Date(msg.at * 1000).toLocaleString();
  head.append(when);
  body.append(head);
  if (msg.kind === "image") {
    const url = URL.createObjectURL(new Blob([msg.image], { type: msg.mime }));
    const img = el("img", "picture");
    img.src = url;
    img.alt = `Image from ${msg.nick}`;
    if (msg.width && msg.height) {
      img.width = msg.width;
      img.height = msg.height;
    }
    img.addEventListener("click", () => {
      $("lightbox-img").src = url;
      $("lightbox").showModal();
    });
    body.append(img);
  } else {
    body.append(el("p", "text"));
    body.lastChild.append(linkify(msg.text));
  }
  item.append(avatar(msg.nick), body);
  return item;
}

// Consecutive messages from one person within a few minutes share a header.
function regroup(item) {
  if (!item) return;
  const prev = item.previousElementSibling;
  const continued =
    prev && prev.dataset.nick === item.dataset.nick &&
    Number(item.dataset.at) - Number(prev.dataset.at) < GROUP_WITHIN_S;
  item.classList.toggle("continued", Boolean(continued));
}

function placeNode(room, item, offset) {
  const list = room.list;
  const stick = list === currentList() && nearBottom();
  // Confirmed messages in offset order, pending ones after them all.
  let before = null;
  if (offset !== null) {
    for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
      if (node.dataset.offset === undefined) { before = node; continue; }
      if (Number(node.dataset.offset) < offset) break;
      before = node;
    }
  }
  const next = before;
  list.insertBefore(item, next);
  regroup(item);
  regroup(item.nextElementSibling);
  if (stick) scrollToBottom();
}

// A message the server stored (it has an offset): shown once, wherever it came from.
function showMessage(msg, offset, live) {
  const room = state.rooms.get(msg.room);
  if (!room || !room.joined) return false;
  const key = Number(offset);
  if (room.byOffset.has(key)) return false;
  let item = room.pending.get(msg.cid);
  if (item) {
    room.pending.delete(msg.cid);
    item.remove();
    item.classList.remove("pending");
    item.querySelector(".state")?.remove();
  } else {
    item = messageNode(msg);
  }
  item.dataset.offset = key;
  room.byOffset.set(key, item);
  placeNode(room, item, key);
  if (live) {
    room.typing.delete(msg.nick);
    if (msg.room === state.active) renderTyping();
    if (msg.room !== state.active || document.hidden) {
      if (msg.nick !== state.nick) {
        room.unread += 1;
        renderRooms();
        renderTitle();
      }
    }
  }
  return true;
}

function showPending(item) {
  const room = state.rooms.get(item.room);
  if (!room || room.pending.has(item.cid)) return;
  const node = messageNode({ ...item, nick: state.nick, at: Date.now() / 1000 });
  node.classList.add("pending");
  node.querySelector(".msg-body").append(el("span", "state", "Sending…"));
  room.pending.set(item.cid, node);
  placeNode(room, node, null);
  scrollToBottom();
}

function dropPending(item) {
  const room = state.rooms.get(item.room);
  const node = room?.pending.get(item.cid);
  if (node) {
    room.pending.delete(item.cid);
    const next = node.nextElementSibling;
    node.remove();
    regroup(next);
  }
}

function currentList() {
  return state.active ? state.rooms.get(state.active)?.list : null;
}

function nearBottom() {
  const area = $("messages-area");
  return area.scrollTop + area.clientHeight >= area.scrollHeight - 80;
}

function scrollToBottom() {
  const area = $("messages-area");
  area.scrollTop = area.scrollHeight;
}

// -- rendering the chrome -------------------------------------------------------------

function renderRooms() {
  const list = $("room-list");
  list.replaceChildren();
  for (const room of state.rooms.values()) {
    const item = el("li", room.name === state.active ? "room active" : "room");
    const open = el("button", "room-open");
    open.type = "button";
    open.dataset.room = room.name;
    open.append(el("span", "hash", "#"), el("span", "room-name", room.name));
    if (room.unread) open.append(el("span", "badge", String(room.unread)));
    open.addEventListener("click", () => activate(room.name));
    const leave = el("button", "room-leave", "×");
    leave.type = "button";
    leave.title = `Leave #${room.name}`;
    leave.setAttribute("aria-label", `Leave #${room.name}`);
    leave.addEventListener("click", () => leaveRoom(room.name));
    item.append(open, leave);
    list.append(item);
  }
}

function renderHeader() {
  const room = state.active ? state.rooms.get(state.active) : null;
  $("room-title").replaceChildren();
  if (room) $("room-title").append(el("span", "hash", "#"), room.name);
  const members = room ? room.members : [];
  $("members-count").textContent = members.length || "";
  $("members-total").textContent = members.length ? String(members.length) : "";
  const list = $("member-list");
  list.replaceChildren();
  for (const nick of members) {
    const item = el("li", nick === state.nick ? "member me" : "member");
    item.append(avatar(nick, true), el("span", "member-nick", nick));
    if (nick === state.nick) item.append(el("span", "you", "you"));
    list.append(item);
  }
  const empty = $("empty");
  if (!room) {
    empty.hidden = false;
    empty.textContent = "Join a room to start: type a name on the left.";
  } else if (room.joined && !room.list.childElementCount) {
    empty.hidden = false;
    empty.textContent = `This is the start of #${room.name}. Say hello!`;
  } else {
    empty.hidden = true;
  }
  $("composer").classList.toggle("disabled", !room);
}

function renderTyping() {
  const room = state.active ? state.rooms.get(state.active) : null;
  const now = Date.now();
  const who = [];
  if (room) {
    for (const [nick, until] of room.typing) {
      if (until > now && nick !== state.nick) who.push(nick);
      else room.typing.delete(nick);
    }
  }
  const line = $("typing");
  line.textContent =
    who.length === 0 ? "" :
    who.length === 1 ? `${who[0]} is typing…` :
    who.length === 2 ? `${who[0]} and ${who[1]} are typing…` :
    "Several people are typing…";
}

function renderTitle() {
  let unread = 0;
  for (const room of state.rooms.values()) unread += room.unread;
  document.title = unread ? `(${unread}) tidings chat` : "tidings chat";
}

function setStatus(kind, text) {
  document.body.classList.toggle("disconnected", kind !== "connected");
  const status = $("status");
  status.dataset.state = kind;
  status.textContent = text;
  const banner = $("offline-banner");
  if (kind === "connected") {
    banner.hidden = true;
  } else if (state.nick) {
    banner.hidden = false;
    banner.textContent = kind === "offline"
      ? "You are offline. What you write is sent when the connection is back."
      : "Reconnecting… What you write is sent when the connection is back.";
  }
}

let sendErrorTimer = null;

// An error about the last thing sent; one that says "wait" goes away when the wait is over.
function showSendError(text, retryAfter) {
  $("send-error-text").textContent = text;
  $("send-error").hidden = false;
  clearTimeout(sendErrorTimer);
  if (retryAfter) sendErrorTimer = setTimeout(clearSendError, retryAfter * 1000);
}

function clearSendError() {
  clearTimeout(sendErrorTimer);
  $("send-error").hidden = true;
}

function showFormError(id, text) {
  const node = $(id);
  node.textContent = text || "";
  node.hidden = !text;
}

function activate(name) {
  const room = state.rooms.get(name);
  if (!room) return;
  state.active = name;
  room.unread = 0;
  $("messages-area").querySelectorAll(".messages").forEach((list) => list.remove());
  $("messages-area").append(room.list);
  document.body.classList.remove("show-sidebar");
  if (location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  renderRooms();
  renderHeader();
  renderTyping();
  renderTitle();
  scrollToBottom();
  save();
  $("text").focus();
}

// -- talking to the server -------------------------------------------------------

async function request(event, payload) {
  try {
    return await socket.timeout(15000).emitWithAck(event, payload);
  } catch {
    return { ok: false, error: "The server did not answer: try again.", lost: true };
  }
}

async function joinRoom(name, { show = true } = {}) {
  const reply = await request("join", { room: name });
  if (!reply.ok) return reply;
  const room = roomOf(reply.room);
  room.joined = true;
  room.members = reply.members;
  for (const msg of reply.history) showMessage(msg, msg.offset, false);
  room.loaded = true;
  if (show || !state.active) activate(room.name);
  else { renderRooms(); renderHeader(); }
  save();
  return reply;
}

async function leaveRoom(name) {
  const room = state.rooms.get(name);
  if (!room) return;
  state.rooms.delete(name);
  state.outbox = state.outbox.filter((item) => item.room !== name);
  room.list.remove();
  if (state.active === name) {
    state.active = null;
    const next = state.rooms.keys().next();
    if (!next.done) activate(next.value);
  }
  renderRooms();
  renderHeader();
  save();
  if (socket.connected) await request("leave", { room: name });
  refreshDiscover();
}

async function refreshDiscover() {
  if (!socket?.connected) return;
  const reply = await request("rooms");
  if (!reply.ok) return;
  const list = $("discover-list");
  const options = $("active-rooms");
  list.replaceChildren();
  options.replaceChildren();
  for (const { room, online } of reply.rooms) {
    const option = el("option");
    option.value = room;
    options.append(option);
    if (state.rooms.has(room)) continue;
    const item = el("li");
    const button = el("button", "discover-room");
    button.type = "button";
    button.append(el("span", "hash", "#"), el("span", "room-name", room), el("span", "online", `${online} here`));
    button.addEventListener("click", () => joinRoom(room));
    item.append(button);
    list.append(item);
  }
  if (!list.childElementCount) list.append(el("li", "quiet", "No other rooms have people in them."));
}

// Send what waits, in order, while connected; what the connection loses goes back in line.
function flushOutbox() {
  while (state.ready && socket.connected && state.outbox.length) {
    const item = state.outbox.shift();
    state.inflight.set(item.cid, item);
    send(item);
  }
}

async function send(item) {
  const { kind, room, cid } = item;
  const payload = kind === "image"
    ? { room, cid, data: item.image, mime: item.mime, width: item.width, height: item.height }
    : { room, cid, text: item.text };
  let reply;
  try {
    reply = await socket.timeout(20000).emitWithAck(kind === "image" ? "image" : "message", payload);
  } catch {
    reply = null; // disconnected before the ack, or no answer: send it again (the server drops a repeat)
  }
  state.inflight.delete(cid);
  if (!state.rooms.has(room)) return;
  if (reply === null) {
    requeue(item);
    flushOutbox();
    return;
  }
  if (!reply.ok) {
    dropPending(item);
    showSendError(`Not sent: ${reply.error}`, reply.retryAfter);
    if (kind === "text" && !$("text").value) $("text").value = item.text;
  }
}

function queue(item) {
  item.seq = ++state.seq;
  showPending(item);
  state.outbox.push(item);
  flushOutbox();
}

// Back in line, where it was written: several sends lost together keep their order.
function requeue(item) {
  const at = state.outbox.findIndex((other) => other.seq > item.seq);
  state.outbox.splice(at === -1 ? state.outbox.length : at, 0, item);
}

function sendText(room, text) {
  queue({ kind: "text", room, cid: newId(), text });
}

// -- images: scaled down in the page, so a phone photo fits the limit ---------------

async function prepareImage(file) {
  if (!IMAGE_TYPES.includes(file.type)) {
    throw new Error("Send a PNG, JPEG, GIF or WebP image.");
  }
  const tooLarge = (size) =>
    new Error(`Images are at most ${formatBytes(LIMITS.maxImageBytes)} (this one is ${formatBytes(size)}).`);
  if (file.type === "image/gif" && file.size > LIMITS.maxImageBytes) {
    throw tooLarge(file.size); // an animation is sent as it is: it cannot be scaled down here
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new Error("This image cannot be read: is the file damaged?");
  }
  const { width, height } = bitmap;
  const side = Math.max(width, height);
  if (file.type === "image/gif" || (file.size <= LIMITS.maxImageBytes && side <= LIMITS.maxImageSide)) {
    bitmap.close();
    if (file.size > LIMITS.maxImageBytes) throw tooLarge(file.size);
    return { data: await file.arrayBuffer(), mime: file.type, width, height };
  }
  const scale = Math.min(1, LIMITS.maxImageSide / side);
  const canvas = document.createElement("canvas");
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.85));
  if (!blob || blob.size > LIMITS.maxImageBytes) {
    throw new Error(`Images are at most ${formatBytes(LIMITS.maxImageBytes)}, and this one is larger even scaled down.`);
  }
  return { data: await blob.arrayBuffer(), mime: "image/jpeg", width: canvas.width, height: canvas.height };
}

async function sendImage(file) {
  if (!state.active) return;
  clearSendError();
  const room = state.active;
  let image;
  try {
    image = await prepareImage(file);
  } catch (err) {
    showSendError(`Not sent: ${err.message}`);
    return;
  }
  queue({ kind: "image", room, cid: newId(), image: image.data, mime: image.mime, width: image.width, height: image.height });
}

// -- the connection ----------------------------------------------------------------

function connect(nick) {
  socket = io({
    auth: { nick },
    autoConnect: false,
    reconnectionDelay: 500,
    reconnectionDelayMax: 2000,
  });
  window.tidingsChat.socket = socket;

  socket.on("connect", async () => {
    stats.connects += 1;
    if (socket.recovered) stats.recoveries += 1;
    setStatus("connected", "Connected");
    if (!state.nick) {
      // First connection with this name: the server accepted it.
      state.nick = nick;
      localStorage.setItem(STORE.nick, nick);
      showApp();
    }
    state.ready = false;
    if (!socket.recovered) {
      // A new session: take our rooms back (the history fills any gap).
      for (const room of state.rooms.values()) room.joined = false;
      const names = state.rooms.size ? [...state.rooms.keys()] : ["general"];
      const wanted = state.active || names[0];
      for (const name of names) {
        const reply = await joinRoom(name, { show: name === wanted });
        if (!reply.ok && !reply.lost) {
          state.rooms.delete(name);
          showSendError(`Could not join #${name}: ${reply.error}`);
        }
      }
      renderRooms();
    }
    state.ready = true;
    flushOutbox();
    refreshDiscover();
  });

  socket.on("disconnect", () => {
    state.ready = false;
    setStatus(navigator.onLine ? "reconnecting" : "offline", navigator.onLine ? "Reconnecting…" : "Offline");
  });

  socket.on("connect_error", (err) => {
    if (!socket.active) {
      // Refused by the server (the nickname): back to the first step.
      socket.disconnect();
      socket = null;
      state.nick = null;
      localStorage.removeItem(STORE.nick);
      showLogin(err.message);
      return;
    }
    setStatus(navigator.onLine ? "reconnecting" : "offline", navigator.onLine ? "Reconnecting…" : "Offline");
  });

  socket.on("message", (msg, offset) => {
    // The offset (the last argument) is the server's id for this message.
    stats.live += 1;
    const key = `${msg.room}/${offset}`;
    if (liveSeen.has(key)) stats.liveDuplicates += 1;
    liveSeen.add(key);
    const room = state.rooms.get(msg.room);
    if (room) {
      const last = room.lastLive ?? 0;
      if (Number(offset) < last) stats.outOfOrder += 1;
      room.lastLive = Math.max(last, Number(offset));
    }
    showMessage(msg, offset, true);
    if (msg.room === state.active) renderHeader();
  });

  socket.on("presence", ({ room: name, members }) => {
    const room = state.rooms.get(name);
    if (!room) return;
    room.members = members;
    if (name === state.active) renderHeader();
  });

  socket.on("typing", ({ room: name, nick }) => {
    const room = state.rooms.get(name);
    if (!room) return;
    room.typing.set(nick, Date.now() + TYPING_SHOWN_MS);
    if (name === state.active) {
      renderTyping();
      setTimeout(renderTyping, TYPING_SHOWN_MS + 50);
    }
  });

  socket.connect();
}

function showLogin(error) {
  $("app").hidden = true;
  $("login").hidden = false;
  $("login-button").disabled = false;
  showFormError("login-error", error);
  $("nick").focus();
}

function showApp() {
  $("login").hidden = true;
  $("app").hidden = false;
  $("me-nick").textContent = state.nick;
  $("me-avatar").replaceWith(Object.assign(avatar(state.nick, true), { id: "me-avatar" }));
}

// -- wiring the page ---------------------------------------------------------------

function wire() {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const nick = $("nick").value.trim().replace(/\s+/g, " ");
    if (!nick) {
      showFormError("login-error", "Pick a nickname.");
      return;
    }
    showFormError("login-error", "");
    $("login-button").disabled = true;
    connect(nick);
  });

  $("logout").addEventListener("click", () => {
    socket?.disconnect();
    socket = null;
    localStorage.removeItem(STORE.nick);
    location.reload();
  });

  $("join-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("join-room");
    const name = input.value.trim().replace(/^#/, "").toLowerCase();
    if (state.rooms.has(name)) {
      activate(name);
      input.value = "";
      showFormError("join-error", "");
      return;
    }
    if (!socket?.connected) {
      showFormError("join-error", "You are offline: join when the connection is back.");
      return;
    }
    const reply = await joinRoom(name);
    if (reply.ok) {
      input.value = "";
      showFormError("join-error", "");
      refreshDiscover();
    } else {
      showFormError("join-error", reply.error);
    }
  });
  $("join-room").addEventListener("input", () => showFormError("join-error", ""));
  $("join-room").addEventListener("focus", refreshDiscover);

  const text = $("text");
  const autosize = () => {
    text.style.height = "auto";
    text.style.height = `${Math.min(text.scrollHeight, 180)}px`;
    const over = text.value.length > LIMITS.maxText * 0.9;
    $("counter").hidden = !over;
    $("counter").textContent = `${text.value.length.toLocaleString()} / ${LIMITS.maxText.toLocaleString()}`;
    $("counter").classList.toggle("over", text.value.length > LIMITS.maxText);
  };
  text.addEventListener("input", () => {
    autosize();
    const now = Date.now();
    if (state.active && text.value && socket?.connected && now - state.lastTypingSent > TYPING_EVERY_MS) {
      state.lastTypingSent = now;
      socket.volatile.emit("typing", { room: state.active });
    }
  });
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = text.value.trim();
    if (!value || !state.active) return;
    clearSendError();
    text.value = "";
    autosize();
    state.lastTypingSent = 0;
    sendText(state.active, value);
  });

  $("attach").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", () => {
    const file = $("file").files[0];
    $("file").value = "";
    if (file) sendImage(file);
  });
  text.addEventListener("paste", (event) => {
    const file = [...(event.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
    if (file) {
      event.preventDefault();
      sendImage(file);
    }
  });
  const area = document.querySelector(".chat");
  area.addEventListener("dragover", (event) => {
    if ([...event.dataTransfer.items].some((i) => i.kind === "file")) {
      event.preventDefault();
      area.classList.add("dropping");
    }
  });
  area.addEventListener("dragleave", () => area.classList.remove("dropping"));
  area.addEventListener("drop", (event) => {
    event.preventDefault();
    area.classList.remove("dropping");
    const file = event.dataTransfer.files[0];
    if (file) sendImage(file);
  });

  $("send-error-close").addEventListener("click", clearSendError);
  $("menu").addEventListener("click", () => document.body.classList.toggle("show-sidebar"));
  $("members-toggle").addEventListener("click", () => document.body.classList.toggle("show-members"));
  $("scrim").addEventListener("click", () => document.body.classList.remove("show-sidebar", "show-members"));
  $("lightbox").addEventListener("click", (event) => {
    if (event.target === $("lightbox")) $("lightbox").close();
  });
  document.addEventListener("visibilitychange", () => {
    const room = state.active && state.rooms.get(state.active);
    if (!document.hidden && room) {
      room.unread = 0;
      renderRooms();
      renderTitle();
    }
  });
  window.addEventListener("offline", () => setStatus("offline", "Offline"));
  window.addEventListener("online", () => {
    if (!socket?.connected) setStatus("reconnecting", "Reconnecting…");
  });
  window.addEventListener("hashchange", () => {
    const name = decodeURIComponent(location.hash.slice(1)).toLowerCase();
    if (!ROOM_RE.test(name)) return;
    if (state.rooms.has(name)) activate(name);
    else if (socket?.connected) joinRoom(name);
  });
}

function start() {
  // `queue` is the way out for what the composer sends, after the page's own checks:
  // tests call it to see how the server answers a page that skipped them.
  window.tidingsChat = { socket: null, stats, state, sendText, queue, request };
  wire();
  try {
    for (const name of JSON.parse(localStorage.getItem(STORE.rooms) || "[]")) {
      if (ROOM_RE.test(name)) roomOf(name);
    }
  } catch { /* a damaged list: start from #general */ }
  state.active = localStorage.getItem(STORE.active);
  const fromHash = decodeURIComponent(location.hash.slice(1)).toLowerCase();
  if (ROOM_RE.test(fromHash)) {
    roomOf(fromHash);
    state.active = fromHash;
  }
  if (state.active && !state.rooms.has(state.active)) state.active = null;
  const nick = localStorage.getItem(STORE.nick);
  if (nick) {
    // Known here: show the chat at once, it fills in as the connection comes up.
    state.nick = nick;
    showApp();
    renderRooms();
    renderHeader();
    setStatus("connecting", "Connecting…");
    connect(nick);
  } else {
    showLogin();
  }
}

start();
