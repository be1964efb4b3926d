// The dashboard's GraphQL client: queries over HTTP and one subscription over a
// WebSocket (graphql-transport-ws), both to the server that sent the page, both by
// `documentId` only. The documents are the server's trusted documents
// (assets/documents.json, written at build time by `scimeta documents build
// frontend-queries`), so the page never sends a document's text.

const TOKEN_KEY = "scimeta.dashboard.token";

/** Raised when the server needs a token (HTTP 401, WebSocket close 4403). */
export class AuthRequired extends Error {}

/** A GraphQL error answer; `code` is the first error's `extensions.code`. */
export class GraphQLError extends Error {
  constructor(errors) {
    super(errors.map((error) => error.message).join("; "));
    this.code = errors[0]?.extensions?.code;
  }
}

// The token lives only in this tab (sessionStorage): closing the tab forgets it.
export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value.trim()),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

function authorization() {
  const value = token.get();
  return value ? `Bearer ${value}` : null;
}

/** The documents by operation name: {id, text}. */
export async function loadDocuments(url) {
  const response = await fetch(url, { cache: "no-cache" });
  if (!response.ok) {
    throw new Error(`the dashboard's documents could not be loaded (${response.status})`);
  }
  const manifest = await response.json();
  const byName = new Map();
  for (const [id, text] of Object.entries(manifest)) {
    const match = text.match(/^\s*(query|subscription|mutation)\s+(\w+)/m);
    if (match) {
      byName.set(match[2], { id, text });
    }
  }
  return byName;
}

export class Client {
  constructor(endpoint, documents) {
    this.endpoint = endpoint;
    this.documents = documents;
  }

  document(name) {
    const document = this.documents.get(name);
    if (!document) {
      throw new Error(`the server's documents have no operation ${name}`);
    }
    return document;
  }

  /** Runs a query by its document id; returns `data`, or throws. */
  async query(name, variables = {}) {
    const headers = {
      "Content-Type": "application/json",
      Accept: "application/graphql-response+json, application/json",
    };
    const auth = authorization();
    if (auth) {
      headers.Authorization = auth;
    }
    const response = await fetch(this.endpoint, {
      method: "POST",
      headers,
      body: JSON.stringify({ documentId: this.document(name).id, operationName: name, variables }),
    });
    if (response.status === 401) {
      throw new AuthRequired("this server needs a token");
    }
    let body;
    try {
      body = await response.json();
    } catch {
      throw new Error(`the server answered ${response.status} without a GraphQL response`);
    }
    if (body.errors?.length) {
      throw new GraphQLError(body.errors);
    }
    return body.data;
  }
}

// graphql-transport-ws close codes that mean "this token will not do"
const UNAUTHORIZED_CLOSES = new Set([4401, 4403]);
const FIRST_RETRY_MS = 250;
const LAST_RETRY_MS = 4000;

/**
 * One subscription that outlives its WebSocket: when the socket closes (the server
 * restarts, the network drops), it connects again, with a growing pause, and
 * subscribes again with `afterSequence` set to the last sequence it received, so the
 * server first sends what happened meanwhile, from its log, then live changes.
 *
 * `onState` hears "connecting", "live", "reconnecting" and "unauthorized";
 * `onMessage` each result's data; `onResumed` when a later connection is live.
 */
export class LiveSubscription {
  constructor(url, document, { variables = {}, onMessage, onState, onResumed }) {
    this.url = url;
    this.document = document;
    this.variables = variables;
    this.onMessage = onMessage;
    this.onState = onState;
    this.onResumed = onResumed ?? (() => {});
    this.lastSequence = null;
    this.connections = 0;
    this.retryMs = FIRST_RETRY_MS;
    this.stopped = false;
    this.socket = null;
    this.timer = null;
  }

  start() {
    this.stopped = false;
    this._connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) {
      this.socket.close(1000, "done");
      this.socket = null;
    }
  }

  /** Closes the socket as a network loss would; it reconnects and resumes. */
  restart() {
    this.socket?.close(4499, "restart");
  }

  _connect() {
    this.onState(this.connections === 0 ? "connecting" : "reconnecting");
    const socket = new WebSocket(this.url, "graphql-transport-ws");
    this.socket = socket;
    socket.onopen = () => {
      const auth = authorization();
      socket.send(
        JSON.stringify({ type: "connection_init", payload: auth ? { Authorization: auth } : {} }),
      );
    };
    socket.onmessage = (event) => this._receive(socket, JSON.parse(event.data));
    socket.onclose = (event) => {
      if (socket !== this.socket || this.stopped) {
        return;
      }
      this.socket = null;
      if (UNAUTHORIZED_CLOSES.has(event.code)) {
        this.onState("unauthorized");
        return;
      }
      this.onState("reconnecting");
      this.timer = setTimeout(() => this._connect(), this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, LAST_RETRY_MS);
    };
  }

  _receive(socket, message) {
    switch (message.type) {
      case "connection_ack": {
        this.connections += 1;
        this.retryMs = FIRST_RETRY_MS;
        const variables = { ...this.variables };
        if (this.lastSequence !== null) {
          variables.afterSequence = this.lastSequence;
        }
        socket.send(
          JSON.stringify({
            id: "live",
            type: "subscribe",
            payload: {
              documentId: this.document.id,
              operationName: this.document.name,
              variables,
            },
          }),
        );
        this.onState("live");
        if (this.connections > 1) {
          this.onResumed(this.lastSequence);
        }
        break;
      }
      case "ping":
        socket.send(JSON.stringify({ type: "pong" }));
        break;
      case "next": {
        const data = message.payload?.data;
        if (data) {
          const change = Object.values(data)[0];
          if (change && typeof change.sequence === "number") {
            this.lastSequence = Math.max(this.lastSequence ?? 0, change.sequence);
          }
          this.onMessage(data);
        }
        break;
      }
      case "error":
        console.error("subscription refused", message.payload);
        break;
      default:
        break;
    }
  }
}
