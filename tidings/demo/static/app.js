// The demo page: send what is typed, show what everyone sends.
"use strict";

const socket = io(); // same origin, default path /socket.io/
const statusLine = document.getElementById("status");
const list = document.getElementById("messages");
const form = document.getElementById("composer");
const input = document.getElementById("text");
const button = form.querySelector("button");

function setStatus(state, text) {
  statusLine.dataset.state = state;
  statusLine.textContent = text;
  button.disabled = state !== "connected";
}

function append(item) {
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.append(item);
  if (atBottom) {
    list.scrollTop = list.scrollHeight;
  }
}

function showNotice(text) {
  const item = document.createElement("li");
  item.className = "notice";
  item.textContent = text;
  append(item);
}

function showMessage({ from, text, at }) {
  const item = document.createElement("li");
  item.className = from === socket.id ? "message mine" : "message";
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = from === socket.id ? "you" : `guest-${from.slice(0, 4)}`;
  const when = document.createElement("time");
  const date = new Date(at * 1000);
  when.dateTime = date.toISOString();
  when.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text; // never innerHTML: text is whatever someone typed
  item.append(when, who, body);
  append(item);
}

socket.on("connect", () => setStatus("connected", `connected (${socket.io.engine.transport.name})`));
socket.io.on("open", () => {
  socket.io.engine.on("upgrade", (transport) => setStatus("connected", `connected (${transport.name})`));
});
socket.on("disconnect", (reason) => setStatus("disconnected", `disconnected: ${reason}`));
socket.on("connect_error", (err) => setStatus("disconnected", `cannot connect: ${err.message}`));
socket.on("presence", ({ online }) => showNotice(`${online} ${online === 1 ? "person" : "people"} here`));
socket.on("chat", showMessage);

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text) {
    return;
  }
  input.value = "";
  try {
    const reply = await socket.timeout(5000).emitWithAck("chat", text);
    if (!reply.ok) {
      showNotice(`not sent: ${reply.error}`);
    }
  } catch {
    showNotice("not sent: the server did not answer");
  }
});
