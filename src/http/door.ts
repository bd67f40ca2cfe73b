// What every HTTP route works with: the Door (this server as HTTP sees it,
// one per server, shared by all its HTTP listeners) and the Exchange (one
// request, with where it came from). Routes are functions of the two; they
// reach the data only through the server core (node, handlers' functions),
// never around it.

import type { ClipNode } from "../server/node.ts";
import type { Listener } from "./auth.ts";
import type { HttpLimits } from "./limits.ts";
import type { TransportMetrics } from "./metric-set.ts";
import type { OutboundLimits } from "./outbound.ts";
import type { SessionStore } from "./session.ts";

export interface Door {
  readonly node: ClipNode;
  /** The cluster token (undefined: none configured); --insecure; the --metrics-token-file token. */
  readonly token?: string;
  readonly insecure: boolean;
  readonly metricsToken?: string;
  /** TCP listeners speak TLS: the session cookie is marked Secure. */
  readonly secure: boolean;
  readonly sessions: SessionStore;
  readonly limits: HttpLimits;
  readonly outbound: OutboundLimits;
  /** The http transport's counters. */
  readonly metrics: TransportMetrics;
  /** GET /metrics: the whole exposition, rendered now. */
  renderMetrics(): { type: string; text: string };
  /** `clip tree`: asked of the root when there is one. */
  tree(): Promise<Record<string, unknown>>;
  /** Waits and event streams open now (metrics). */
  watching: number;
  /** How to end each open wait and stream at shutdown (each removes itself when it ends). */
  readonly open: Set<() => void>;
  /** Set once the server is stopping: new requests get 503. */
  closing: boolean;
}

export interface Exchange {
  readonly req: Request;
  readonly url: URL;
  /** Path parameters, still percent-encoded (params.ts decodes and checks them). */
  readonly params: Record<string, string>;
  readonly listener: Listener;
  /** The client's address (tcp), or "unix". */
  readonly remote: string;
  /** A long poll or an event stream: Bun's idle timeout must not cut it while it is quiet. */
  keepOpen(): void;
  /** What the Basic credentials proved on a key route: the group and its secret's hash now. */
  proved?: { group: string; hash: string };
}

export type RouteHandler = (x: Exchange, door: Door) => Response | Promise<Response>;

const enc = new TextEncoder();
const JSON_HEADERS = new Headers({ "Content-Type": "application/json", "Cache-Control": "no-store" });

/** A JSON answer, counted as bytes sent. */
export function jsonResponse(door: Door, body: unknown, status = 200): Response {
  const bytes = enc.encode(`${JSON.stringify(body)}\n`);
  door.metrics.sent.inc(bytes.length);
  return new Response(bytes, { status, headers: JSON_HEADERS });
}
