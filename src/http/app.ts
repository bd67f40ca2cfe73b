// The HTTP door's front: every request passes here, whatever listener it
// came through. In order: the caps (requests in progress, URL length), the
// route (404/405), the credentials the route wants (401 with a challenge
// when none were given, 403 after the failure's delay when they are wrong),
// then the route itself; any error becomes SPEC's JSON answer. Each request
// is timed (to its answer's start: a stream's first byte) and counted.
//
// It knows nothing of Bun.serve (serve.ts adapts it): a test can drive it
// with Request objects.

import { ClipError, asClipError } from "../protocol/errors.ts";
import { checkTokenGuess } from "../server/auth.ts";
import { proveSecret } from "../server/handlers/groups.ts";
import { BEARER_CHALLENGE, basicChallenge, checkCluster, type ClusterAuth, type Listener, parseAuthorization } from "./auth.ts";
import type { Door, Exchange, RouteHandler } from "./door.ts";
import { errorResponse, methodNotAllowed, notFound, unauthorized } from "./errors.ts";
import { admit, type ServerCounts } from "./limits.ts";
import { groupParam } from "./params.ts";
import { match, type Route } from "./router.ts";
import { adminRoutes } from "./routes/admin.ts";
import { keyRoutes } from "./routes/keys.ts";
import { regionRoutes } from "./routes/regions.ts";
import { cookieValue, SESSION_COOKIE } from "./session.ts";
import { SSE_HEADERS } from "./sse.ts";

/** Where a request arrived: its listener's kind, the client, and what the listener can do for it. */
export interface Arrival {
  listener: Listener;
  remote: string;
  /** Requests in progress on every HTTP listener of this server, together. */
  counts: ServerCounts;
  /** Lets a request stay quiet past the idle timeout (Bun's server.timeout(req, 0)). */
  keepOpen(req: Request): void;
}

const STREAMS = new Set(["regionEvents", "regionsEvents", "watch"]);

export class HttpApp {
  private readonly routes: Record<string, RouteHandler>;

  constructor(readonly door: Door) {
    this.routes = { ...regionRoutes(door), ...keyRoutes(door), ...adminRoutes(door) };
  }

  /**
   * The answer to one request. Synchronous when nothing on its way waits
   * (most reads and refusals): no promise is made for them.
   */
  handle(req: Request, a: Arrival): Response | Promise<Response> {
    const t0 = performance.now();
    let res: Response | Promise<Response>;
    try {
      res = this.answer(req, a);
    } catch (e) {
      res = this.thrown(req, e);
    }
    if (res instanceof Promise) {
      return res.then(
        (r) => this.timed(t0, r),
        (e) => this.timed(t0, this.thrown(req, e)),
      );
    }
    return this.timed(t0, res);
  }

  private timed(t0: number, res: Response): Response {
    this.door.metrics.duration.observe((performance.now() - t0) / 1000);
    return res;
  }

  private thrown(req: Request, e: unknown): Response {
    // A refused upload's body may still be on its way: the connection cannot carry another request.
    return this.failed(e, req.method === "PUT" ? { Connection: "close" } : undefined);
  }

  private failed(e: unknown, headers?: Record<string, string>): Response {
    const err = asClipError(e);
    this.door.metrics.errors(err.code).inc();
    return errorResponse(e, headers);
  }

  private answer(req: Request, a: Arrival): Response | Promise<Response> {
    const door = this.door;
    const refused = admit(req, a.counts, door.limits);
    if (refused) {
      door.metrics.refused.inc();
      return refused;
    }
    if (door.closing) return this.failed(new ClipError("SHUTDOWN", "the server is shutting down"));
    const url = new URL(req.url);
    const m = match(req.method, url.pathname);
    if (m.status === 404) {
      door.metrics.errors("NOTFOUND").inc();
      return notFound(url.pathname);
    }
    if (m.status === 405) {
      door.metrics.errors("USAGE").inc();
      return methodNotAllowed(req.method, url.pathname, m.allow);
    }
    const x: Exchange = { req, url, params: m.params, listener: a.listener, remote: a.remote, keepOpen: () => a.keepOpen(req) };
    const route = m.route;
    const refusal = this.credentials(x, route);
    if (refusal instanceof Promise) return refusal.then((r) => r ?? this.route(x, route));
    return refusal ?? this.route(x, route);
  }

  private route(x: Exchange, route: Route): Response | Promise<Response> {
    // A stream's headers alone: no watch is opened for a HEAD.
    if (x.req.method === "HEAD" && STREAMS.has(route.name)) return new Response(null, { headers: SSE_HEADERS });
    return this.routes[route.name](x, this.door);
  }

  /** The route's credential, checked: undefined to go on, or the answer that refuses (a promise only when a check waits). */
  private credentials(x: Exchange, route: Route): Response | undefined | Promise<Response | undefined> {
    const door = this.door;
    switch (route.credential) {
      case "none":
        return undefined;
      case "token":
        // Signing out needs nothing: it only ends the session its cookie names.
        if (x.req.method === "DELETE") return undefined;
        return this.cluster(x, route);
      case "group":
        return this.groupSecret(x, groupParam(x.params.group));
      default:
        return this.cluster(x, route);
    }
  }

  /** The cluster token (Bearer), or the page's session cookie; none on a unix listener or with --insecure. */
  private cluster(x: Exchange, route: Route): Response | undefined | Promise<Response | undefined> {
    const door = this.door;
    if (x.listener === "unix" || door.insecure) return undefined;
    const creds = parseAuthorization(x.req.headers.get("authorization"));
    const forMetrics = route.credential === "metrics";
    const auth: ClusterAuth = { listener: x.listener, token: door.token, metricsToken: door.metricsToken, session: (id) => door.sessions.valid(id) };
    if (creds.scheme === "bearer") {
      // A wrong token is a guess: slowed as the socket's are, through the same gate.
      const verdict = checkTokenGuess(
        { delay: door.node.authDelay, turns: door.node.tokenTurns },
        `token:${x.remote}`,
        () => checkCluster(auth, creds, undefined, forMetrics) === "ok",
        (wait) => door.node.log("warn", "bad token", `from http client ${x.remote}; answering in ${wait} ms`),
      );
      if (verdict === "ok") return undefined;
      return typeof verdict === "string" ? this.refuseToken(verdict) : verdict.then((v) => (v === "ok" ? undefined : this.refuseToken(v)));
    }
    // Only the token itself is traded for a session: a cookie cannot make another.
    const cookie = route.credential === "token" ? undefined : cookieValue(x.req.headers.get("cookie"), SESSION_COOKIE);
    if (checkCluster(auth, creds, cookie, forMetrics) === "ok") return undefined;
    door.metrics.errors("AUTH").inc();
    return unauthorized(BEARER_CHALLENGE, cookie ? "the session has ended: sign in again" : "the cluster token is needed: Authorization: Bearer TOKEN");
  }

  private refuseToken(verdict: "wrong" | "busy"): Response {
    if (verdict === "busy") return this.failed(new ClipError("BUSY", "too many failed token attempts on this server right now; try again shortly"));
    return this.failed(new ClipError("AUTH", "bad token: the cluster token does not match"));
  }

  /** A key route's Basic credentials: the group's name and its secret, proved as on the socket. */
  private async groupSecret(x: Exchange, group: string): Promise<Response | undefined> {
    const creds = parseAuthorization(x.req.headers.get("authorization"));
    if (creds.scheme !== "basic") {
      this.door.metrics.errors("AUTH").inc();
      return unauthorized(basicChallenge(group), `the group's secret is needed: HTTP Basic with user "${group}" and the secret as password`);
    }
    if (creds.user !== group) return this.failed(new ClipError("AUTH", `these credentials are for group "${creds.user}", and this is group "${group}"`));
    try {
      const hash = await proveSecret(this.door.node, `http:${x.remote}`, `http client ${x.remote}`, group, creds.password);
      x.proved = { group, hash };
      return undefined;
    } catch (e) {
      return this.failed(e);
    }
  }
}
