// Loads scimeta's GraphiQL in Debian's Chromium (/usr/bin/chromium, driven by
// playwright-core, which downloads no browser) with every host but the server's made
// unreachable twice over: the browser resolves no other name (--host-resolver-rules),
// and any request or WebSocket to another origin is failed and recorded. It types a
// query, runs it, reads the result pane, runs a subscription the same way, and prints
// one JSON report on its last line for tests/browser/test_graphiql_browser.py to judge.
// Given a token, it first runs the query with the headers editor as the page sets it
// (the server asks for a token), then types the token there and runs it again.
//
// Usage: node graphiql.mjs '{"url": "http://127.0.0.1:PORT/graphql", "query": "...",
//   "expect": "...", "subscription": "...", "subscriptionExpect": "...", "token": "smt_..." or null, "timeoutMs": N}'

import { chromium } from "playwright-core";

const CHROMIUM = process.env.SCIMETA_CHROMIUM || "/usr/bin/chromium";
const job = JSON.parse(process.argv[2]);
const origin = new URL(job.url).origin;
const wsOrigin = origin.replace(/^http/, "ws");
const timeout = job.timeoutMs;

const report = {
  chromium: null,
  headersDefault: null,
  typed: null,
  withoutToken: null,
  headersTyped: null,
  response: null,
  subscriptionResponse: null,
  requests: [],
  websockets: [],
  blocked: [],
  consoleErrors: [],
  violations: [],
  probe: null,
  error: null,
};

function editorValue(page, selector) {
  return page.evaluate(
    (selector) => document.querySelector(selector).CodeMirror.getValue(),
    selector,
  );
}

// waits until the result pane holds `text`, and returns what it holds
async function responseContaining(page, text) {
  const selector = ".graphiql-response .CodeMirror";
  try {
    await page.waitForFunction(
      ([selector, text]) => {
        const editor = document.querySelector(selector);
        return editor !== null && editor.CodeMirror.getValue().includes(text);
      },
      [selector, text],
      { timeout },
    );
  } catch (error) {
    const shown = await editorValue(page, selector).catch(() => null);
    throw new Error(`no ${JSON.stringify(text)} in the result pane, which shows ${JSON.stringify(shown)}`);
  }
  return editorValue(page, selector);
}

// replaces what an editor holds by typing `text` into it
async function typeInto(page, selector, text) {
  await page.click(`${selector} .CodeMirror-lines`);
  await page.keyboard.press("Control+A");
  await page.keyboard.press("Delete");
  await page.keyboard.type(text);
  await page.keyboard.press("Escape"); // closes an autocompletion list, if one is open
}

const args = [
  // names other than the server's resolve to nothing; 127.0.0.1 is an address anyway
  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];
if (process.getuid && process.getuid() === 0) {
  // Chromium's sandbox refuses to run as root (CI containers)
  args.push("--no-sandbox");
}

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
try {
  report.chromium = browser.version();
  const context = await browser.newContext();
  context.on("request", (request) => report.requests.push(request.url()));
  await context.route("**/*", async (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) {
      await route.continue();
    } else {
      report.blocked.push(url);
      await route.abort("blockedbyclient");
    }
  });
  await context.routeWebSocket(
    (url) => new URL(url).origin !== wsOrigin,
    (socket) => {
      report.blocked.push(socket.url());
      socket.close();
    },
  );
  await context.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation", (event) =>
      window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`),
    );
  });

  const page = await context.newPage();
  page.on("websocket", (socket) => report.websockets.push(socket.url()));
  page.on("console", (message) => {
    if (message.type() === "error") {
      report.consoleErrors.push(message.text());
    }
  });
  page.on("pageerror", (error) => report.consoleErrors.push(String(error)));

  await page.goto(job.url, { waitUntil: "load", timeout });
  const queryEditor = ".graphiql-query-editor .CodeMirror";
  await page.waitForSelector(queryEditor, { timeout });
  // the headers editor is the one shown below the query at first
  const headersEditor =
    'section.graphiql-editor-tool[aria-label="Headers"] .graphiql-editor:not(.hidden) .CodeMirror';
  await page.waitForSelector(headersEditor, { timeout });
  report.headersDefault = await editorValue(page, headersEditor);

  // type the query as a person would, over the example the page starts with
  await typeInto(page, queryEditor, job.query);
  report.typed = await editorValue(page, queryEditor);
  if (job.token) {
    // with the placeholder left in place no token goes, and the server asks for one
    await page.click(".graphiql-execute-button");
    report.withoutToken = await responseContaining(page, "UNAUTHENTICATED");
    await typeInto(page, headersEditor, `{"Authorization": "Bearer ${job.token}"}`);
    report.headersTyped = await editorValue(page, headersEditor);
  }
  await page.click(".graphiql-execute-button");
  report.response = await responseContaining(page, job.expect);

  // a subscription goes over the page's WebSocket; its first event is in the log already
  await page.evaluate(
    ([selector, text]) => document.querySelector(selector).CodeMirror.setValue(text),
    [queryEditor, job.subscription],
  );
  await page.click(".graphiql-execute-button");
  report.subscriptionResponse = await responseContaining(page, job.subscriptionExpect);
  report.violations = await page.evaluate(() => window.__violations);

  // The interception is shown to work on a page of another host, opened last: it must
  // be refused and recorded. (GraphiQL's own page could not even try: its policy
  // allows only its own server.)
  const before = report.blocked.length;
  const requested = report.requests.length;
  const probeUrl = "https://unpkg.com/graphiql@3.8.3/graphiql.min.js";
  const probe = await context.newPage();
  let probeError = null;
  try {
    await probe.goto(probeUrl, { timeout });
  } catch (error) {
    probeError = String(error).split("\n")[0];
  }
  report.probe = { url: probeUrl, error: probeError, blocked: report.blocked.slice(before) };
  report.blocked = report.blocked.slice(0, before);
  report.requests = report.requests.slice(0, requested);
} catch (error) {
  report.error = String(error);
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
process.exit(report.error === null ? 0 : 1);
