// Drives Chromium for the demo's browser tests: one browser, one context per person.
//
// Commands arrive on stdin as JSON lines {id, cmd, args}; each gets one answer on
// stdout, {id, ok: true, result} or {id, ok: false, error}, and they run concurrently
// (a test may wait on one page while it acts on another). The first line out is
// {ready: true, version}. Usage: node driver.mjs  (CHROMIUM=/path/to/chromium)
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";

const DEFAULT_TIMEOUT = 10_000;
const executablePath = process.env.CHROMIUM;
if (!executablePath) {
  process.stderr.write("set CHROMIUM to the chromium executable\n");
  process.exit(2);
}

// Playwright makes a fresh user data directory for the browser (under TMPDIR) and removes it.
const browser = await chromium.launch({
  executablePath,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  timeout: 30_000,
});

const people = new Map(); // name -> {context, page, errors: [], console: []}

function person(name) {
  const found = people.get(name);
  if (!found) throw new Error(`no page named ${name}`);
  return found;
}

// A function's source, as the tests send it, made a function again (Playwright would
// otherwise evaluate the string as an expression and hand back the function itself).
function fn(source) {
  return new Function(`return (${source});`)();
}

function write(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

const commands = {
  async open({ name, viewport = { width: 1280, height: 800 } }) {
    const context = await browser.newContext({ viewport, locale: "en-GB", timezoneId: "UTC" });
    context.setDefaultTimeout(DEFAULT_TIMEOUT);
    const page = await context.newPage();
    const entry = { context, page, errors: [], console: [] };
    page.on("pageerror", (err) => entry.errors.push(String(err)));
    page.on("console", (msg) => {
      entry.console.push(`${msg.type()}: ${msg.text()}`);
      if (msg.type() === "error") entry.errors.push(`console: ${msg.text()}`);
    });
    people.set(name, entry);
    return true;
  },
  async goto({ name, url }) {
    await person(name).page.goto(url, { waitUntil: "load" });
    return true;
  },
  async reload({ name }) {
    await person(name).page.reload({ waitUntil: "load" });
    return true;
  },
  async fill({ name, selector, value }) {
    await person(name).page.locator(selector).fill(value);
    return true;
  },
  async type({ name, selector, value }) {
    await person(name).page.locator(selector).pressSequentially(value);
    return true;
  },
  async press({ name, selector, key }) {
    await person(name).page.locator(selector).press(key);
    return true;
  },
  async click({ name, selector, position }) {
    await person(name).page.locator(selector).click(position ? { position } : {});
    return true;
  },
  async waitFor({ name, selector, state = "visible", timeout = DEFAULT_TIMEOUT }) {
    await person(name).page.locator(selector).first().waitFor({ state, timeout });
    return true;
  },
  async waitForText({ name, selector, text, timeout = DEFAULT_TIMEOUT }) {
    // Until the element's text contains `text`.
    await person(name).page.waitForFunction(
      ([sel, want]) => [...document.querySelectorAll(sel)].some((n) => n.textContent.includes(want)),
      [selector, text],
      { timeout, polling: "raf" },
    );
    return person(name).page.locator(selector).allTextContents();
  },
  async waitForFunction({ name, expression, arg = null, timeout = DEFAULT_TIMEOUT }) {
    const handle = await person(name).page.waitForFunction(fn(expression), arg, { timeout, polling: "raf" });
    return handle.jsonValue();
  },
  async evaluate({ name, expression, arg = null }) {
    return person(name).page.evaluate(fn(expression), arg);
  },
  async texts({ name, selector }) {
    return person(name).page.locator(selector).allTextContents();
  },
  async attribute({ name, selector, attribute }) {
    return person(name).page.locator(selector).evaluateAll(
      (nodes, attr) => nodes.map((n) => n.getAttribute(attr)), attribute);
  },
  async setInputFiles({ name, selector, files }) {
    const payloads = files.map((f) => ({ name: f.name, mimeType: f.mimeType, buffer: Buffer.from(f.base64, "base64") }));
    await person(name).page.locator(selector).setInputFiles(payloads);
    return true;
  },
  async setOffline({ name, offline }) {
    await person(name).context.setOffline(offline);
    return true;
  },
  async setViewport({ name, width, height }) {
    await person(name).page.setViewportSize({ width, height });
    return true;
  },
  async screenshot({ name, path, fullPage = false }) {
    await person(name).page.screenshot({ path, fullPage, animations: "disabled", caret: "hide" });
    return path;
  },
  async errors({ name }) {
    return person(name).errors;
  },
  async console({ name }) {
    return person(name).console;
  },
  async close({ name }) {
    const entry = person(name);
    people.delete(name);
    await entry.context.close();
    return true;
  },
};

async function run({ id, cmd, args }) {
  try {
    const fn = commands[cmd];
    if (!fn) throw new Error(`unknown command ${cmd}`);
    write({ id, ok: true, result: (await fn(args || {})) ?? null });
  } catch (err) {
    write({ id, ok: false, error: String(err?.message || err) });
  }
}

write({ ready: true, version: browser.version() });
const lines = createInterface({ input: process.stdin });
const running = new Set();
for await (const line of lines) {
  if (!line.trim()) continue;
  const task = run(JSON.parse(line));
  running.add(task);
  task.finally(() => running.delete(task));
}
// stdin closed: the test is over.
await Promise.allSettled(running);
await browser.close();
