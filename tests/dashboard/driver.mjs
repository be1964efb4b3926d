// A browser for tests/dashboard, driven over stdin/stdout: one JSON command a line in,
// one JSON answer a line out. It launches Debian's chromium (CHROMIUM, default
// /usr/bin/chromium) through playwright-core, which downloads no browser, and lets the
// page reach only ALLOWED_ORIGIN: every other request is recorded and aborted, and the
// browser's resolver knows no name at all, so nothing reaches another host.
//
// Commands: goto {url}; wait {selector, text?, state?, timeout}; text {selector};
// click {selector}; fill {selector, value}; press {selector, key}; eval {expression};
// screenshot {path}; network; close.

import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const allowed = new URL(process.env.ALLOWED_ORIGIN).origin;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--no-first-run"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const requests = [];
const blocked = [];
const sockets = [];
const errors = [];
await context.route("**/*", (route) => {
  const url = route.request().url();
  if (new URL(url).origin === allowed) {
    return route.continue();
  }
  blocked.push(url);
  return route.abort("blockedbyclient");
});
context.on("request", (request) => requests.push(request.url()));
const page = await context.newPage();
page.on("websocket", (socket) => sockets.push(socket.url()));
page.on("pageerror", (error) => errors.push(String(error)));
page.on("console", (message) => {
  if (message.type() === "error") {
    errors.push(message.text());
  }
});

async function waitFor({ selector, text, state, timeout = 5000 }) {
  await page.waitForFunction(
    ([selector, text, state]) => {
      const element = document.querySelector(selector);
      if (!element) {
        return false;
      }
      if (state !== undefined && element.dataset.state !== state) {
        return false;
      }
      return text === undefined || element.textContent.includes(text);
    },
    [selector, text, state],
    { timeout, polling: 25 },
  );
  return page.textContent(selector);
}

const commands = {
  goto: ({ url }) => page.goto(url).then((response) => response?.status()),
  wait: waitFor,
  text: ({ selector }) => page.textContent(selector),
  click: ({ selector }) => page.click(selector),
  fill: ({ selector, value }) => page.fill(selector, value),
  press: ({ selector, key }) => page.press(selector, key),
  eval: ({ expression }) => page.evaluate(expression),
  screenshot: ({ path }) => page.screenshot({ path, fullPage: false }).then(() => path),
  network: () => ({ requests, blocked, sockets, errors, url: page.url() }),
  close: async () => {
    await browser.close();
    return "closed";
  },
};

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const { command, ...args } = JSON.parse(line);
  let answer;
  try {
    answer = { ok: true, result: (await commands[command](args)) ?? null };
  } catch (error) {
    answer = { ok: false, error: String(error?.message ?? error) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
  if (command === "close") {
    break;
  }
}
process.exit(0);
