// scimeta's lab dashboard: what the server holds, for a person, live. Runs by status and
// phase (live through `runChanged`), a run's trajectories and chunk audits, a project's
// job tree, batches' progress, the statistics and any node's event log. Every query is
// a document of frontend-queries/, sent by its id; each view links to GraphiQL with its
// query and variables filled in.

import { h, fill, when, number, badge } from "./dom.js";
import { AuthRequired, Client, LiveSubscription, loadDocuments, token } from "./graphql.js";

const STATUSES = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"];
const PAGE_SIZE = 25;
const FEED_LENGTH = 20;
// many changes at once (a claimer at work) cost one read of the counts
const REFRESH_DELAY_MS = 150;

const state = {
  client: null,
  live: null,
  feed: [],
  onRunChange: null,
  graphiql: document.body.dataset.graphiql === "on",
};

const view = document.getElementById("view");
const connection = document.getElementById("connection");
const tokenButton = document.getElementById("forget-token");

// --- routing ------------------------------------------------------------------------------

function route() {
  const hash = location.hash.replace(/^#/, "") || "/runs";
  const [path, search] = hash.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(search ?? "") };
}

function link(parts, params = {}) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") {
      search.set(name, value);
    }
  }
  const query = search.toString();
  return `#/${parts.map(encodeURIComponent).join("/")}${query ? `?${query}` : ""}`;
}

const VIEWS = {
  runs: runsView,
  run: runView,
  projects: projectsView,
  project: projectView,
  batches: batchesView,
  statistics: statisticsView,
  events: eventsView,
};

async function render() {
  const { parts, params } = route();
  const show = VIEWS[parts[0]] ?? runsView;
  state.onRunChange = null;
  for (const tab of document.querySelectorAll("nav a")) {
    tab.classList.toggle("current", tab.dataset.view === (parts[0] ?? "runs"));
  }
  try {
    await show(parts.slice(1), params);
  } catch (error) {
    failed(error);
  }
}

function failed(error) {
  if (error instanceof AuthRequired) {
    askForToken();
    return;
  }
  fill(view, h("p", { class: "error", role: "alert" }, error.message));
}

// --- GraphiQL links -----------------------------------------------------------------------

function inGraphiQL(name, variables) {
  if (!state.graphiql) {
    return null;
  }
  const text = state.client.document(name).text;
  const search = new URLSearchParams({ q: text, variables: JSON.stringify(variables, null, 2) });
  return h(
    "a",
    { class: "graphiql", href: `graphql?${search}`, target: "_blank", rel: "noopener" },
    "open in GraphiQL",
  );
}

function heading(title, name, variables, ...more) {
  return h("header", { class: "view-header" }, h("h2", {}, title), more, inGraphiQL(name, variables));
}

function eventsLink(id) {
  return h("a", { href: link(["events", id]), class: "events-link" }, "events");
}

function pager(pageInfo, parts, params, forward = true) {
  const links = [];
  const base = Object.fromEntries(params);
  delete base.after;
  delete base.before;
  if (params.get("after") || params.get("before")) {
    links.push(h("a", { href: link(parts, base) }, forward ? "first page" : "latest"));
  }
  if (forward && pageInfo.hasNextPage) {
    links.push(h("a", { href: link(parts, { ...base, after: pageInfo.endCursor }), rel: "next" }, "next page"));
  }
  if (!forward && pageInfo.hasPreviousPage) {
    links.push(h("a", { href: link(parts, { ...base, before: pageInfo.startCursor }), rel: "prev" }, "earlier"));
  }
  return h("p", { class: "pager" }, links);
}

// --- runs ---------------------------------------------------------------------------------

function counted(groups, field) {
  return new Map(groups.map((group) => [group.key[field], group.count]));
}

async function runsView(_parts, params) {
  const statuses = params.get("status") ? params.get("status").split(",") : STATUSES;
  const variables = { statuses, first: PAGE_SIZE, after: params.get("after") };
  const data = await state.client.query("RunMonitor", variables);
  const byStatus = counted(data.allRuns.byStatus, "status");
  const byPhase = counted(data.allRuns.byPhase, "phase");
  const chosen = params.get("status");
  const rows = new Map();

  const statusCounts = h(
    "div",
    { class: "counts", dataset: { testid: "status-counts" } },
    h(
      "a",
      { href: link(["runs"]), class: chosen ? "count" : "count current", dataset: { testid: "count-ALL" } },
      h("span", { class: "label" }, "all"),
      h("span", { class: "value" }, data.allRuns.totalCount),
    ),
    STATUSES.map((status) =>
      h(
        "a",
        {
          href: link(["runs"], { status }),
          class: `count ${status.toLowerCase()}${chosen === status ? " current" : ""}`,
          dataset: { testid: `count-${status}` },
        },
        h("span", { class: "label" }, status.toLowerCase()),
        h("span", { class: "value" }, byStatus.get(status) ?? 0),
      ),
    ),
  );
  const phaseCounts = h("div", { class: "counts phases", dataset: { testid: "phase-counts" } }, phaseChips(byPhase));

  const body = h("tbody");
  for (const run of data.runs.nodes) {
    const row = runRow(run);
    rows.set(run.id, row);
    body.append(row);
  }
  const feed = h("ol", { class: "feed", dataset: { testid: "feed" } });
  renderFeed(feed);

  fill(
    view,
    heading(`Runs${chosen ? `: ${chosen.toLowerCase()}` : ""}`, "RunMonitor", variables),
    statusCounts,
    h("h3", {}, "by phase"),
    phaseCounts,
    h(
      "div",
      { class: "columns" },
      h(
        "section",
        { class: "wide" },
        h(
          "table",
          { class: "list", dataset: { testid: "runs" } },
          h("thead", {}, h("tr", {}, ["run", "status", "phase", "study", "worker", "attempt", "created", "metrics", ""].map((t) => h("th", {}, t)))),
          body,
        ),
        h("p", { class: "total" }, `${data.runs.totalCount} runs`),
        pager(data.runs.pageInfo, ["runs"], params),
      ),
      h("section", { class: "side" }, h("h3", {}, "live changes"), feed),
    ),
  );

  let refresh = null;
  state.onRunChange = (change) => {
    renderFeed(feed);
    const row = change.run && rows.get(change.run.id);
    if (row) {
      row.replaceWith((rows.set(change.run.id, runRow(change.run)), rows.get(change.run.id)));
    }
    clearTimeout(refresh);
    refresh = setTimeout(async () => {
      try {
        const fresh = await state.client.query("RunMonitor", variables);
        if (state.onRunChange === null) {
          return;
        }
        const statusNow = counted(fresh.allRuns.byStatus, "status");
        for (const status of STATUSES) {
          statusCounts.querySelector(`[data-testid="count-${status}"] .value`).textContent =
            statusNow.get(status) ?? 0;
        }
        statusCounts.querySelector('[data-testid="count-ALL"] .value').textContent =
          fresh.allRuns.totalCount;
        const phaseNow = counted(fresh.allRuns.byPhase, "phase");
        fill(phaseCounts, phaseChips(phaseNow));
        for (const run of fresh.runs.nodes) {
          const row = rows.get(run.id);
          if (row) {
            const replacement = runRow(run);
            row.replaceWith(replacement);
            rows.set(run.id, replacement);
          }
        }
      } catch (error) {
        failed(error);
      }
    }, REFRESH_DELAY_MS);
  };
}

function phaseChips(byPhase) {
  return [...byPhase].map(([phase, count]) =>
    h(
      "span",
      { class: "count", dataset: { testid: `phase-${phase ?? "NONE"}` } },
      h("span", { class: "label" }, phase ? phase.toLowerCase() : "no phase"),
      h("span", { class: "value" }, count),
    ),
  );
}

function runRow(run) {
  return h(
    "tr",
    { dataset: { testid: `run-${run.name}`, status: run.status } },
    h("td", {}, h("a", { href: link(["run", run.id]) }, run.name)),
    h("td", { class: "status" }, badge(run.status)),
    h("td", {}, run.phase ?? ""),
    h("td", {}, run.study?.name ?? ""),
    h("td", {}, run.claimedBy ?? ""),
    h("td", {}, run.attempt),
    h("td", {}, when(run.createdAt)),
    h("td", {}, (run.metrics?.nodes ?? []).map((m) => `${m.name} ${number(m.value)}${m.unit ? ` ${m.unit}` : ""}`).join(", ")),
    h("td", {}, eventsLink(run.id)),
  );
}

function renderFeed(list) {
  fill(
    list,
    state.feed.length
      ? state.feed.map((change) =>
          h(
            "li",
            { dataset: { sequence: change.sequence } },
            h("span", { class: "sequence" }, `#${change.sequence}`),
            " ",
            change.run ? h("a", { href: link(["run", change.run.id]) }, change.run.name) : "deleted run",
            " ",
            change.event.type,
            change.run ? [" ", badge(change.run.status)] : null,
            h("time", {}, when(change.event.at)),
          ),
        )
      : h("li", { class: "empty" }, "changes to runs appear here as they happen"),
  );
}

// --- one run ------------------------------------------------------------------------------

async function runView([id], _params) {
  const variables = { id };
  const data = await state.client.query("RunDetail", variables);
  const run = data.node;
  if (!run) {
    fill(view, h("p", { class: "error" }, "no such run"));
    return;
  }
  const audits = counted(run.chunks.groups, "auditStatus");
  fill(
    view,
    heading(`Run ${run.name}`, "RunDetail", variables, eventsLink(run.id)),
    h(
      "dl",
      { class: "facts", dataset: { testid: "run-facts" } },
      [
        ["status", badge(run.status)],
        ["phase", run.phase ?? ""],
        ["study", run.study?.name ?? ""],
        ["worker", run.claimedBy ?? ""],
        ["lease until", when(run.leaseExpiresAt)],
        ["attempt", run.attempt],
        ["started", when(run.startedAt)],
        ["ended", when(run.endedAt)],
        ["error", run.error ?? ""],
      ].map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
    ),
    h("h3", {}, "metrics"),
    h("ul", {}, run.metrics.nodes.map((m) => h("li", {}, `${m.name}: ${m.value ?? m.text ?? ""} ${m.unit ?? ""}`))),
    h("h3", {}, `chunk audits (${run.chunks.totalCount} attempts)`),
    h(
      "div",
      { class: "counts", dataset: { testid: "audit-counts" } },
      [...audits].map(([status, count]) =>
        h("span", { class: `count ${String(status).toLowerCase()}` }, h("span", { class: "label" }, String(status).toLowerCase()), h("span", { class: "value" }, count)),
      ),
    ),
    h("h3", {}, `trajectories (${run.trajectories.totalCount})`),
    run.trajectories.nodes.map((trajectory) =>
      h(
        "section",
        { class: "trajectory", dataset: { testid: `trajectory-${trajectory.index}` } },
        h("h4", {}, `trajectory ${trajectory.index}: ${trajectory.chunksCompleted.length} of ${trajectory.targetLength ?? "?"} chunks passed`),
        h(
          "table",
          { class: "list" },
          h("thead", {}, h("tr", {}, ["chunk", "attempt", "audit", "model", "frames", "file", "created"].map((t) => h("th", {}, t)))),
          h(
            "tbody",
            {},
            trajectory.chunks.nodes.map((chunk) =>
              h(
                "tr",
                {},
                h("td", {}, chunk.index),
                h("td", {}, chunk.attempt),
                h("td", {}, badge(chunk.auditStatus)),
                h("td", {}, chunk.modelVersion ?? ""),
                h("td", {}, chunk.frameCount ?? ""),
                h("td", {}, chunk.file?.name ?? ""),
                h("td", {}, when(chunk.createdAt)),
              ),
            ),
          ),
        ),
      ),
    ),
  );
  state.onRunChange = (change) => {
    if (change.run?.id === id) {
      render();
    }
  };
}

// --- projects and job trees ---------------------------------------------------------------

async function projectsView(_parts, params) {
  const name = params.get("name") ?? "";
  const variables = { name: name ? `%${name}%` : null, first: PAGE_SIZE, after: params.get("after") };
  const data = await state.client.query("Projects", variables);
  const filter = h(
    "form",
    {
      class: "filter",
      onsubmit: (event) => {
        event.preventDefault();
        location.hash = link(["projects"], { name: event.target.elements.name.value });
      },
    },
    h("input", { name: "name", type: "search", placeholder: "project name contains", value: name }),
    h("button", { type: "submit" }, "filter"),
  );
  fill(
    view,
    heading("Projects", "Projects", variables),
    filter,
    h(
      "table",
      { class: "list", dataset: { testid: "projects" } },
      h("thead", {}, h("tr", {}, ["project", "description", "jobs", "by status", ""].map((t) => h("th", {}, t)))),
      h(
        "tbody",
        {},
        data.projects.nodes.map((project) =>
          h(
            "tr",
            {},
            h("td", {}, h("a", { href: link(["project", project.name]) }, project.name)),
            h("td", {}, project.description ?? ""),
            h("td", {}, project.allJobs.totalCount),
            h("td", {}, project.allJobs.groups.map((g) => [badge(g.key.status), ` ${g.count} `])),
            h("td", {}, eventsLink(project.id)),
          ),
        ),
      ),
    ),
    h("p", { class: "total" }, `${data.projects.totalCount} projects`),
    pager(data.projects.pageInfo, ["projects"], params),
  );
}

async function projectView([name], _params) {
  const variables = { project: name };
  const data = await state.client.query("JobTree", variables);
  const project = data.projects.nodes[0];
  if (!project) {
    fill(view, h("p", { class: "error" }, `no project ${name}`));
    return;
  }
  fill(
    view,
    heading(`Project ${project.name}`, "JobTree", variables, eventsLink(project.id)),
    h("p", {}, project.description ?? ""),
    h(
      "div",
      { class: "counts", dataset: { testid: "job-counts" } },
      h("span", { class: "count" }, h("span", { class: "label" }, "jobs"), h("span", { class: "value" }, project.allJobs.totalCount)),
      project.allJobs.groups.map((g) =>
        h("span", { class: `count ${g.key.status.toLowerCase()}` }, h("span", { class: "label" }, g.key.status.toLowerCase()), h("span", { class: "value" }, g.count)),
      ),
    ),
    h("ul", { class: "tree", dataset: { testid: "job-tree" } }, project.jobs.nodes.map(jobItem)),
  );
}

function jobItem(job) {
  const children = job.children?.nodes ?? [];
  const deeper = job.children?.totalCount ?? 0;
  const files = job.files.nodes;
  const kpis = job.metrics.nodes;
  const summary = h(
    "summary",
    {},
    h("span", { class: "number" }, job.number),
    " ",
    badge(job.status),
    " ",
    h("strong", {}, job.taskName),
    job.title ? ` ${job.title}` : "",
    " ",
    eventsLink(job.id),
  );
  const details = h(
    "details",
    { open: children.length > 0 },
    summary,
    files.length || kpis.length
      ? h(
          "div",
          { class: "job-facts" },
          files.length ? h("p", {}, "files: ", files.map((use) => `${use.role.toLowerCase()} ${use.file.name}`).join(", ")) : null,
          kpis.length ? h("p", {}, "KPIs: ", kpis.map((m) => `${m.name} ${m.value ?? m.text ?? ""}${m.unit ? ` ${m.unit}` : ""}`).join(", ")) : null,
        )
      : null,
    children.length ? h("ul", {}, children.map(jobItem)) : null,
    !children.length && deeper ? h("p", { class: "deeper" }, `${deeper} deeper jobs`) : null,
  );
  return h("li", { dataset: { testid: `job-${job.number}`, status: job.status } }, details);
}

// --- batches ------------------------------------------------------------------------------

async function batchesView(_parts, params) {
  const chosen = params.get("status");
  const variables = { statuses: chosen ? [chosen] : STATUSES, first: PAGE_SIZE, after: params.get("after") };
  const data = await state.client.query("BatchProgress", variables);
  fill(
    view,
    heading("Batches", "BatchProgress", variables),
    h(
      "p",
      { class: "filter" },
      h("a", { href: link(["batches"]), class: chosen ? "" : "current" }, "all"),
      STATUSES.map((status) => [" ", h("a", { href: link(["batches"], { status }), class: chosen === status ? "current" : "" }, status.toLowerCase())]),
    ),
    data.batches.nodes.map((batch) => {
      const p = batch.progress;
      return h(
        "section",
        { class: "batch", dataset: { testid: `batch-${batch.name}` } },
        h("h3", {}, batch.name, " ", badge(batch.status), " ", eventsLink(batch.id)),
        h("p", {}, batch.description ?? "", batch.method ? ` (${batch.method})` : ""),
        h("progress", { max: 1, value: p.fractionDone ?? 0 }),
        h(
          "p",
          { class: "progress-figures" },
          `${Math.round((p.fractionDone ?? 0) * 100)}% done: ${p.succeeded} succeeded, ${p.failed} failed, ` +
            `${p.cancelled} cancelled, ${p.running} running, ${p.pending} pending of ${p.total}`,
        ),
      );
    }),
    h("p", { class: "total" }, `${data.batches.totalCount} batches`),
    pager(data.batches.pageInfo, ["batches"], params),
  );
}

// --- statistics ---------------------------------------------------------------------------

async function statisticsView(_parts, params) {
  const since = params.get("since");
  const variables = { since: since ? new Date(since).toISOString() : null };
  const data = await state.client.query("Statistics", variables);
  const chemistry = data.chemistryStatistics;
  const groupTable = (title, connection, field) =>
    h(
      "section",
      { class: "stat" },
      h("h3", {}, `${title} (${connection.totalCount})`),
      h("div", { class: "counts" }, connection.groups.map((g) =>
        h("span", { class: `count ${String(g.key[field]).toLowerCase()}` }, h("span", { class: "label" }, String(g.key[field]).toLowerCase()), h("span", { class: "value" }, g.count)),
      )),
    );
  fill(
    view,
    heading("Statistics", "Statistics", variables),
    h(
      "form",
      {
        class: "filter",
        onsubmit: (event) => {
          event.preventDefault();
          location.hash = link(["statistics"], { since: event.target.elements.since.value });
        },
      },
      h("label", {}, "created since ", h("input", { name: "since", type: "date", value: since ?? "" })),
      h("button", { type: "submit" }, "apply"),
    ),
    h(
      "dl",
      { class: "facts", dataset: { testid: "chemistry" } },
      [
        ["molecules", chemistry.molecules],
        ["batches", chemistry.batches],
        ["calculations", chemistry.calculations],
        ["succeeded", chemistry.succeeded],
        ["failed", chemistry.failed],
        ["success rate", chemistry.successRate === null ? "" : `${Math.round(chemistry.successRate * 100)}%`],
        ["average energy", number(chemistry.averageEnergy)],
        ["median gap", number(chemistry.medianGap)],
        ["latest calculation", when(chemistry.latestCalculationAt)],
      ].map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]),
    ),
    groupTable("runs", data.runs, "status"),
    groupTable("jobs", data.jobs, "status"),
    groupTable("chunk audits", data.chunks, "auditStatus"),
    h("h3", {}, "KPIs"),
    h(
      "table",
      { class: "list" },
      h("thead", {}, h("tr", {}, ["KPI", "unit", "count", "min", "average", "max"].map((t) => h("th", {}, t)))),
      h("tbody", {}, data.metrics.groups.map((g) =>
        h("tr", {}, h("td", {}, g.key.key.name), h("td", {}, g.key.key.unit ?? ""), h("td", {}, g.count), h("td", {}, number(g.value.min)), h("td", {}, number(g.value.avg)), h("td", {}, number(g.value.max))),
      )),
    ),
  );
}

// --- event log ----------------------------------------------------------------------------

async function eventsView([subject], params) {
  const types = params.get("types");
  const variables = {
    subject,
    types: types ? types.split(",").map((t) => t.trim()).filter(Boolean) : null,
    last: PAGE_SIZE,
    before: params.get("before"),
  };
  const data = await state.client.query("SubjectEvents", variables);
  const events = data.events;
  fill(
    view,
    heading(`Events of ${events.nodes[0]?.subjectType ?? "node"} ${subject}`, "SubjectEvents", variables),
    h(
      "form",
      {
        class: "filter",
        onsubmit: (event) => {
          event.preventDefault();
          location.hash = link(["events", subject], { types: event.target.elements.types.value });
        },
      },
      h("input", { name: "types", type: "search", placeholder: "types, e.g. status_changed,claimed", value: types ?? "" }),
      h("button", { type: "submit" }, "filter"),
    ),
    h(
      "table",
      { class: "list", dataset: { testid: "events" } },
      h("thead", {}, h("tr", {}, ["#", "at", "type", "level", "actor", "payload"].map((t) => h("th", {}, t)))),
      h("tbody", {}, [...events.nodes].reverse().map((event) =>
        h("tr", {}, h("td", {}, event.sequence), h("td", {}, when(event.at)), h("td", {}, event.type), h("td", {}, event.level ?? ""), h("td", {}, event.actor ?? ""), h("td", {}, h("code", {}, JSON.stringify(event.payload)))),
      )),
    ),
    h("p", { class: "total" }, `${events.totalCount} events`),
    pager(events.pageInfo, ["events", subject], params, false),
  );
}

// --- token --------------------------------------------------------------------------------

function askForToken() {
  connection.textContent = "needs a token";
  connection.className = "connection unauthorized";
  const rejected = Boolean(token.get());
  token.clear();
  fill(
    view,
    h(
      "form",
      {
        class: "token",
        dataset: { testid: "token-form" },
        onsubmit: (event) => {
          event.preventDefault();
          token.set(event.target.elements.token.value);
          start();
        },
      },
      h("h2", {}, "This server needs an API token"),
      rejected ? h("p", { class: "error" }, "The server did not accept that token.") : null,
      h(
        "p",
        {},
        "Paste a token made with `scimeta token create` (smt_...). It stays in this tab only, " +
          "and the dashboard shows what the token may see.",
      ),
      h("input", { name: "token", type: "password", autocomplete: "off", placeholder: "smt_...", required: true }),
      h("button", { type: "submit" }, "use token"),
    ),
  );
}

// --- live ---------------------------------------------------------------------------------

const CONNECTION_TEXT = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  unauthorized: "needs a token",
};

function startLive() {
  state.live?.stop();
  const document = { ...state.client.document("RunChanges"), name: "RunChanges" };
  const url = new URL("graphql", location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.hash = "";
  url.search = "";
  state.live = new LiveSubscription(url.href, document, {
    onState: (name) => {
      connection.textContent = CONNECTION_TEXT[name];
      connection.className = `connection ${name}`;
      connection.dataset.state = name;
      if (name === "unauthorized") {
        askForToken();
      }
    },
    onMessage: (data) => {
      const change = data.runChanged;
      state.feed.unshift(change);
      state.feed.length = Math.min(state.feed.length, FEED_LENGTH);
      state.onRunChange?.(change);
    },
    onResumed: (after) => {
      // resumed after the last change received; without one, what changed meanwhile is
      // read again
      if (after === null) {
        render();
      }
    },
  });
  state.live.start();
  window.scimetaDashboard = { live: state.live };
}

async function start() {
  tokenButton.hidden = !token.get();
  try {
    if (!state.client) {
      const documents = await loadDocuments("dashboard/assets/documents.json");
      state.client = new Client(new URL("graphql", location.href).href, documents);
    }
    // a first query says whether a token is needed before the socket is opened
    await state.client.query("Projects", { first: 1 });
  } catch (error) {
    failed(error);
    return;
  }
  startLive();
  render();
}

tokenButton.addEventListener("click", () => {
  token.clear();
  state.live?.stop();
  askForToken();
});
window.addEventListener("hashchange", render);
start();
