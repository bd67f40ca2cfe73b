// SPEC's HTTP routes as one table: path template, methods, and which
// credential each wants. The routes' handlers are keyed by `name`;
// /v1/openapi.json describes the same table (a test checks that they agree),
// and `match` gives a request its route and path parameters, or the 404 or
// 405 (with Allow) it deserves.
//
// Templates are OpenAPI's: `{region}` is one path segment; `{key}` (always
// last) is the rest of the path, so a key may hold `/`. Parameters are
// returned raw (still percent-encoded): params.ts decodes and checks them.

export type Credential =
  /** no credentials: the page and its assets, the API description */
  | "none"
  /** the cluster token (Bearer) or the page's session cookie; none on a unix listener */
  | "cluster"
  /** the group's secret as HTTP Basic (user = group name) */
  | "group"
  /** the cluster token, or the --metrics-token-file one */
  | "metrics"
  /** the cluster token as Bearer (POST /v1/session trades it for a cookie) */
  | "token";

export interface Route {
  name: string;
  path: string;
  methods: readonly string[];
  credential: Credential;
}

export const ROUTES: readonly Route[] = [
  { name: "page", path: "/", methods: ["GET"], credential: "none" },
  { name: "asset", path: "/assets/{file}", methods: ["GET"], credential: "none" },
  { name: "openapi", path: "/v1/openapi.json", methods: ["GET"], credential: "none" },
  { name: "metrics", path: "/metrics", methods: ["GET"], credential: "metrics" },
  { name: "session", path: "/v1/session", methods: ["POST", "DELETE"], credential: "token" },
  { name: "regions", path: "/v1/regions", methods: ["GET"], credential: "cluster" },
  { name: "regionsEvents", path: "/v1/regions/events", methods: ["GET"], credential: "cluster" },
  { name: "region", path: "/v1/regions/{region}", methods: ["GET", "PUT"], credential: "cluster" },
  { name: "regionEvents", path: "/v1/regions/{region}/events", methods: ["GET"], credential: "cluster" },
  { name: "keys", path: "/v1/kv/{group}", methods: ["GET"], credential: "group" },
  { name: "key", path: "/v1/kv/{group}/{key}", methods: ["GET", "PUT", "DELETE"], credential: "group" },
  { name: "watch", path: "/v1/watch/{group}", methods: ["GET"], credential: "group" },
  { name: "status", path: "/v1/status", methods: ["GET"], credential: "cluster" },
  { name: "tree", path: "/v1/tree", methods: ["GET"], credential: "cluster" },
  { name: "apps", path: "/v1/apps", methods: ["GET"], credential: "cluster" },
  { name: "group", path: "/v1/groups/{group}", methods: ["POST", "DELETE"], credential: "cluster" },
];

export type Match =
  | { status: 200; route: Route; params: Record<string, string> }
  | { status: 404 }
  | { status: 405; allow: string[] };

interface Compiled {
  route: Route;
  segments: string[];
  /** True when the last segment is `{key}`: it takes the rest of the path. */
  rest: boolean;
  /** How many parameters it has. */
  params: number;
}

const compiled: Compiled[] = ROUTES.map((route) => {
  const segments = route.path.split("/").slice(1);
  return { route, segments, rest: segments[segments.length - 1] === "{key}", params: segments.filter((s) => s.startsWith("{")).length };
});

function fit(c: Compiled, parts: string[]): Record<string, string> | undefined {
  const { segments, rest } = c;
  if (rest ? parts.length < segments.length : parts.length !== segments.length) return undefined;
  // Literal segments first, with nothing made: most routes fail here.
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    if (s.charCodeAt(0) !== 123 /* { */ && s !== parts[i]) return undefined;
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    if (s.charCodeAt(0) !== 123) continue;
    const value = rest && i === segments.length - 1 ? parts.slice(i).join("/") : parts[i];
    if (value === "") return undefined;
    params[s.slice(1, -1)] = value;
  }
  return params;
}

/**
 * The route for `method` on `pathname` (URL.pathname: raw, percent-encoded).
 * A literal segment wins over a parameter (/v1/regions/events is not region
 * "events"); HEAD is taken wherever GET is.
 */
export function match(method: string, pathname: string): Match {
  const parts = pathname.split("/").slice(1);
  // Fewer parameters = more literal: /v1/regions/events before /v1/regions/{region}.
  let best: { c: Compiled; params: Record<string, string>; n: number } | undefined;
  for (const c of compiled) {
    if (best && c.params >= best.n) continue;
    const params = fit(c, parts);
    if (params) best = { c, params, n: c.params };
  }
  if (!best) return { status: 404 };
  const m = method === "HEAD" ? "GET" : method;
  if (best.c.route.methods.includes(m)) return { status: 200, route: best.c.route, params: best.params };
  const allow = [...best.c.route.methods];
  if (allow.includes("GET")) allow.push("HEAD");
  return { status: 405, allow };
}
