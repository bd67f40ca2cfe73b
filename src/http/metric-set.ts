// The metrics a clip server exposes at GET /metrics: their names (all
// `clip_`), help texts, labels and units, in one place. The server core
// feeds them in two ways:
//   - events are counted where they happen, through children bound once per
//     transport (`metrics.transport("unix").received.inc(n)`): no lookup, no
//     allocation per call;
//   - levels (clients, watchers, children, lag) are read from the core when
//     scraped (`bind(source)`), so no code path has to keep a gauge in step.

import { type CounterChild, DURATION_BUCKETS, EXPOSITION_CONTENT_TYPE, type HistogramChild, Registry } from "./metrics.ts";

export type Transport = "unix" | "tcp" | "http";
export const TRANSPORTS: readonly Transport[] = ["unix", "tcp", "http"];

/** Live levels, asked for at each scrape. */
export interface MetricsSource {
  /** Clients (not peer servers) connected through `t`; for http, requests in progress. */
  clients(t: Transport): number;
  /** Open watches through `t`: region waits and follows, key watches, event streams. */
  watchers(t: Transport): number;
  /** Child servers joined to this one. */
  children(): number;
  /** Revisions the root has applied that this server has not yet (0 on a root). */
  lag(): number;
  /** The last revision applied here. */
  revision(): number;
}

/** The counters of one transport, bound once and kept by whoever serves it. */
export interface TransportMetrics {
  /** Bytes read from clients and peers (request bodies and frames, values included). */
  readonly received: CounterChild;
  /** Bytes written to them. */
  readonly sent: CounterChild;
  /** Seconds from a request's arrival to its answer (watches and streams: to their first byte). */
  readonly duration: HistogramChild;
  /** Readers cut off for falling too far behind (64 MiB or 64 events). */
  readonly cutOff: CounterChild;
  /** Requests refused for a limit (connections, body size). */
  readonly refused: CounterChild;
  /** Requests answered with an error, by clip's error code (made on first use of a code). */
  errors(code: string): CounterChild;
}

export class ClipMetrics {
  readonly registry = new Registry();
  readonly contentType = EXPOSITION_CONTENT_TYPE;

  /** Writes applied on this server, from whichever server they came. */
  readonly writesApplied = this.registry.counter("clip_writes_applied_total", "Writes (copies, puts, deletes, expiries, group changes) applied on this server.");
  private readonly revision = this.registry.gauge("clip_revision", "The last revision applied on this server.");
  private readonly lag = this.registry.gauge("clip_lag_revisions", "Revisions the root has applied that this server has not applied yet (0 on a root).");
  private readonly children = this.registry.gauge("clip_children", "Child servers joined to this server.");
  private readonly clients = this.registry.gauge("clip_clients", "Clients connected, by transport (for http: requests in progress).", ["transport"]);
  private readonly watchers = this.registry.gauge("clip_watchers", "Open watches, waits and event streams, by transport.", ["transport"]);
  private readonly received = this.registry.counter("clip_received_bytes_total", "Bytes received from clients and peers, by transport.", ["transport"]);
  private readonly sent = this.registry.counter("clip_sent_bytes_total", "Bytes sent to clients and peers, by transport.", ["transport"]);
  private readonly duration = this.registry.histogram(
    "clip_request_duration_seconds",
    "Time from a request's arrival to its answer, by transport (watches and streams: to their first byte).",
    DURATION_BUCKETS,
    ["transport"],
  );
  private readonly cutOff = this.registry.counter("clip_slow_readers_cut_total", "Readers cut off for falling 64 MiB or 64 events behind, by transport.", ["transport"]);
  private readonly refused = this.registry.counter("clip_refused_total", "Requests or connections refused at a limit, by transport.", ["transport"]);
  private readonly errors = this.registry.counter("clip_errors_total", "Requests answered with an error, by transport and clip error code.", ["transport", "code"]);
  private readonly info = this.registry.gauge("clip_info", "Always 1; the labels name this server and its version.", ["name", "version"]);
  private readonly started = this.registry.gauge("clip_start_time_seconds", "When this server started, in seconds since the Unix epoch.");

  private readonly bound = new Map<Transport, TransportMetrics>();

  constructor(server: { name: string; version: string; startedAt?: number }) {
    this.info.labels(server.name, server.version).set(1);
    this.started.set(Math.floor((server.startedAt ?? Date.now()) / 1000));
    for (const t of TRANSPORTS) {
      const errors = this.errors;
      this.bound.set(t, {
        received: this.received.labels(t),
        sent: this.sent.labels(t),
        duration: this.duration.labels(t),
        cutOff: this.cutOff.labels(t),
        refused: this.refused.labels(t),
        errors: (code) => errors.labels(t, code),
      });
      // Every transport shows up at 0 before it is used, so a dashboard's series exist from the start.
      this.clients.labels(t);
      this.watchers.labels(t);
    }
  }

  transport(t: Transport): TransportMetrics {
    return this.bound.get(t)!;
  }

  /** Reads the levels from `source` at each scrape. */
  bind(source: MetricsSource): void {
    const clients = TRANSPORTS.map((t) => [t, this.clients.labels(t)] as const);
    const watchers = TRANSPORTS.map((t) => [t, this.watchers.labels(t)] as const);
    this.registry.onCollect(() => {
      for (const [t, g] of clients) g.set(source.clients(t));
      for (const [t, g] of watchers) g.set(source.watchers(t));
      this.children.set(source.children());
      this.lag.set(source.lag());
      this.revision.set(source.revision());
    });
  }

  render(): string {
    return this.registry.render();
  }
}
