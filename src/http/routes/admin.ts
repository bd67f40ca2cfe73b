// The rest of the HTTP door: admin routes (status, tree, apps, groups), the
// web page's session (token traded for a cookie), /metrics, the page and
// its assets, and the API's own description. Credentials were checked by
// the app before any of these run.

import { appsReport } from "../../server/handlers/apps.ts";
import { createGroup, deleteGroup } from "../../server/handlers/groups.ts";
import { type Door, jsonResponse, type RouteHandler } from "../door.ts";
import { notFound } from "../errors.ts";
import openapi from "../openapi.json" with { type: "text" };
import { serveAsset } from "../page.ts";
import { groupParam, parseQuery } from "../params.ts";
import { clearedSessionCookie, cookieValue, SESSION_COOKIE, sessionCookie } from "../session.ts";

const OPENAPI = openapi as unknown as string;

export function adminRoutes(door: Door): Record<string, RouteHandler> {
  const { node } = door;
  return {
    status(x) {
      parseQuery(x.url, {});
      return jsonResponse(door, node.status());
    },
    async tree(x) {
      parseQuery(x.url, {});
      return jsonResponse(door, await door.tree());
    },
    apps(x) {
      parseQuery(x.url, {});
      return jsonResponse(door, appsReport(node, null));
    },
    async group(x) {
      parseQuery(x.url, {});
      const group = groupParam(x.params.group);
      return jsonResponse(door, x.req.method === "POST" ? await createGroup(node, group) : await deleteGroup(node, group, null));
    },

    /** POST: the token (checked by the app) for a cookie; DELETE: the cookie's session ends. */
    session(x) {
      parseQuery(x.url, {});
      if (x.req.method === "DELETE") {
        const id = cookieValue(x.req.headers.get("cookie"), SESSION_COOKIE);
        if (id) door.sessions.revoke(id);
        return new Response(null, { status: 204, headers: { "Set-Cookie": clearedSessionCookie(door.secure), "Cache-Control": "no-store" } });
      }
      const s = door.sessions.create();
      return new Response(null, { status: 204, headers: { "Set-Cookie": sessionCookie(s.id, door.sessions.ttlMs, door.secure), "Cache-Control": "no-store" } });
    },

    metrics(x) {
      parseQuery(x.url, {});
      const { type, text } = door.renderMetrics();
      door.metrics.sent.inc(Buffer.byteLength(text));
      return new Response(text, { headers: { "Content-Type": type, "Cache-Control": "no-store" } });
    },

    page(x) {
      return serveAsset(x.url.pathname, x.req) ?? notFound(x.url.pathname);
    },
    asset(x) {
      return serveAsset(x.url.pathname, x.req) ?? notFound(x.url.pathname);
    },
    openapi(x) {
      parseQuery(x.url, {});
      return new Response(OPENAPI, { headers: { "Content-Type": "application/json", "Cache-Control": "no-cache" } });
    },
  };
}
