// GraphiQL as scimeta serves it (scimeta.server.graphiql): the page, React, GraphiQL and
// its explorer plugin all come from this server, and the page talks to nothing else.
//
// Queries and mutations go over HTTP to the URL the page was loaded from (/graphql);
// subscriptions over a WebSocket to the same URL as ws:// or wss:// (graphql-transport-ws,
// the protocol of GraphiQL's graphql-ws client). The Headers tab starts with the header
// an API token goes in; left as the placeholder it is not sent, so a server that runs
// open answers as it is. A token given there goes with subscriptions too, in the
// `connection_init` payload the server reads it from.
(function () {
  "use strict";

  const TOKEN_PLACEHOLDER = "Bearer smt_...";
  const DEFAULT_HEADERS = '{\n  "Authorization": "' + TOKEN_PLACEHOLDER + '"\n}\n';

  const EXAMPLE_QUERY = `# GraphiQL for scimeta: write a query on this side, run it with Ctrl-Enter
# (or the play button) and read the answer on the right. The schema's
# documentation is in the Docs panel; the Explorer panel builds queries.
#
# With an API token (a server that was given one asks for it), put it in the
# Headers tab below in place of the placeholder:
#
#     {"Authorization": "Bearer smt_..."}
#
# Keyboard shortcuts:
#
#   Run query:     Ctrl-Enter
#   Auto complete: Ctrl-Space (or just start typing)
#   Prettify:      Shift-Ctrl-P

query Projects {
  projects(first: 5) {
    totalCount
    nodes {
      id
      name
    }
  }
}
`;

  // the parameters of a shared link: ?q=<query>&variables=<json>&headers=<json>
  const parameters = {};
  for (const [name, value] of new URLSearchParams(window.location.search)) {
    parameters[name] = value;
  }

  // The query and variables go into the address as they are edited, so that a link
  // shares them; headers never do (they may carry a token).
  function updateURL(data) {
    Object.assign(parameters, data);
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(parameters)) {
      if (value) {
        search.set(name, value);
      }
    }
    history.replaceState(null, "", "?" + search.toString());
  }

  const url = window.location.origin + window.location.pathname;
  const subscriptionUrl = url.replace(/^http/, "ws");

  // the Authorization header of a request's headers, unless it is the placeholder
  function authorizationOf(headers) {
    for (const [name, value] of Object.entries(headers)) {
      if (name.toLowerCase() === "authorization") {
        return value === TOKEN_PLACEHOLDER ? null : String(value);
      }
    }
    return null;
  }

  function withoutPlaceholder(headers) {
    const kept = {};
    for (const [name, value] of Object.entries(headers)) {
      if (!(name.toLowerCase() === "authorization" && value === TOKEN_PLACEHOLDER)) {
        kept[name] = value;
      }
    }
    return kept;
  }

  // One fetcher per token: a WebSocket carries the token of its connection_init, so a
  // changed token needs a connection of its own.
  const fetchers = new Map();
  function fetcherFor(authorization) {
    const key = authorization || "";
    if (!fetchers.has(key)) {
      fetchers.set(
        key,
        GraphiQL.createFetcher({
          url: url,
          subscriptionUrl: subscriptionUrl,
          wsConnectionParams: authorization ? { Authorization: authorization } : {},
        }),
      );
    }
    return fetchers.get(key);
  }

  // GraphiQL hands the fetcher the editor's last parsed document and the operation name
  // it found there, which lag the text by a moment: a query run right after an edit
  // would go out with the name of an operation no longer in it, or a subscription over
  // HTTP (the fetcher picks the WebSocket by the document). So the text sent is parsed
  // here, and a name it does not define gives way to its one operation.
  function documentOf(query, parsed) {
    try {
      return GraphiQL.GraphQL.parse(query);
    } catch (error) {
      return parsed;
    }
  }

  function operationNameIn(document, name) {
    if (!document) {
      return name;
    }
    const operations = document.definitions.filter(
      (definition) => definition.kind === "OperationDefinition",
    );
    const named = (operation) => (operation.name ? operation.name.value : undefined);
    if (operations.length === 1 && !operations.some((operation) => named(operation) === name)) {
      return named(operations[0]);
    }
    return name;
  }

  function fetcher(graphQLParams, options) {
    const headers = withoutPlaceholder((options && options.headers) || {});
    const document = documentOf(graphQLParams.query, options && options.documentAST);
    const params = Object.assign({}, graphQLParams, {
      operationName: operationNameIn(document, graphQLParams.operationName || undefined),
    });
    return fetcherFor(authorizationOf(headers))(
      params,
      Object.assign({}, options, { headers: headers, documentAST: document }),
    );
  }

  const explorer = GraphiQLPluginExplorer.explorerPlugin();

  // The query and variables of a shared link are where the editors start; after that
  // the editors hold them (GraphiQL keeps its tabs in the browser's storage). They are
  // not handed back to GraphiQL on each edit: a value set again while the user types on
  // would drop the keys typed meanwhile.
  function ScimetaGraphiQL() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      query: parameters.q,
      variables: parameters.variables,
      headers: parameters.headers,
      defaultQuery: EXAMPLE_QUERY,
      defaultHeaders: DEFAULT_HEADERS,
      defaultEditorToolsVisibility: "headers",
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      inputValueDeprecation: true,
      onEditQuery: function (edited) {
        updateURL({ q: edited });
      },
      onEditVariables: function (edited) {
        updateURL({ variables: edited });
      },
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(ScimetaGraphiQL),
  );
})();
