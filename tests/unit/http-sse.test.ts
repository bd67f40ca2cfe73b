// Server-Sent Events: the framing, and event streams served by a real
// Bun.serve on loopback to real sockets: heartbeats, a client that leaves,
// and a reader that stops reading, which is cut off once it is 64 events
// (or the byte limit) behind while one that keeps up never is.

import { afterEach, describe, expect, test } from "bun:test";
import net from "node:net";
import type { CloseReason } from "../../src/http/outbound.ts";
import { Outbound, SPEC_LIMITS } from "../../src/http/outbound.ts";
import { EventStream, frameComment, frameEvent, frameRetry } from "../../src/http/sse.ts";

async function until(cond: () => boolean, ms = 10_000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

const servers: { stop(force: boolean): unknown }[] = [];
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.stop(true);
});

/** A server whose every request opens one event stream, handed to the test. */
function serveStreams(opts: ConstructorParameters<typeof EventStream>[0] = {}) {
  const streams: { es: EventStream; closed?: CloseReason }[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    fetch(req) {
      const entry: { es: EventStream; closed?: CloseReason } = { es: undefined as unknown as EventStream };
      entry.es = new EventStream({ ...opts, signal: req.signal, onClose: (r) => (entry.closed = r) });
      streams.push(entry);
      return entry.es.response;
    },
  });
  servers.push(server);
  return { server, streams };
}

/** A raw client that reads (or, paused, does not) and keeps what it got. */
function client(port: number, paused: boolean) {
  const s = net.connect(port, "127.0.0.1");
  sockets.push(s);
  const got = { text: "", bytes: 0, closed: false };
  s.on("data", (d) => {
    got.bytes += d.length;
    if (got.text.length < 1 << 16) got.text += d.toString("latin1");
  });
  s.on("close", () => (got.closed = true));
  s.on("error", () => {});
  if (paused) s.pause();
  s.write("GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n");
  return { s, got };
}

describe("http sse - framing", () => {
  test("sse - an event is id, data as one JSON line, a blank line", () => {
    expect(frameEvent({ id: 12, data: { rev: 12, region: 3 } })).toBe('id: 12\ndata: {"rev":12,"region":3}\n\n');
    expect(frameEvent({ data: "a\nb\r\nc" })).toBe("data: a\ndata: b\ndata: c\n\n");
    expect(frameEvent({ id: "7", event: "reset", data: "x" })).toBe("id: 7\nevent: reset\ndata: x\n\n");
    // JSON escapes newlines inside strings, so a value with line breaks stays on one data line.
    expect(frameEvent({ data: { v: "line\nbreak" } }).split("\n").length).toBe(3);
    expect(() => frameEvent({ id: "1\n2", data: "" })).toThrow();
    expect(() => frameEvent({ event: "a\rb", data: "" })).toThrow();
    expect(frameComment("hi\nthere")).toBe(": hi there\n\n");
    expect(frameRetry(1500.7)).toBe("retry: 1500\n\n");
  });

  test("sse - SPEC's limits: 64 MiB or 64 events", () => {
    expect(SPEC_LIMITS).toEqual({ maxBytes: 64 * 1024 * 1024, maxEvents: 64 });
  });
});

describe("http sse - streams", () => {
  test("sse - a client gets the headers, the retry line, events in order and heartbeats", async () => {
    const { server, streams } = serveStreams({ heartbeatMs: 40 });
    const { got } = client(server.port!, false);
    await until(() => streams.length === 1 && got.text.includes("retry:"), 5000, "stream open");
    expect(got.text).toMatch(/^HTTP\/1.1 200 OK\r\n/);
    expect(got.text.toLowerCase()).toContain("content-type: text/event-stream");
    expect(got.text.toLowerCase()).toContain("cache-control: no-store");
    for (let i = 1; i <= 3; i++) expect(streams[0].es.send({ id: i, data: { rev: i } })).toBe(true);
    await until(() => got.text.includes('data: {"rev":3}'), 5000, "three events");
    const body = got.text.slice(got.text.indexOf("\r\n\r\n"));
    expect(body.indexOf("id: 1\n")).toBeLessThan(body.indexOf("id: 2\n"));
    expect(body.indexOf("id: 2\n")).toBeLessThan(body.indexOf("id: 3\n"));
    await until(() => (got.text.match(/\n: \n/g) ?? []).length >= 2, 5000, "two heartbeats");
    expect(streams[0].closed).toBeUndefined();
  });

  test("sse - a client that leaves closes the stream (the route's watch ends) and send says so", async () => {
    const { server, streams } = serveStreams();
    const { s, got } = client(server.port!, false);
    await until(() => got.text.includes("retry:"), 5000, "stream open");
    s.destroy();
    await until(() => streams[0].closed !== undefined, 5000, "close seen");
    expect(streams[0].closed).toBe("client");
    expect(streams[0].es.send({ id: 1, data: {} })).toBe(false);
  });

  test("sse - close() ends the stream normally; the client reads everything sent before it", async () => {
    const { server, streams } = serveStreams();
    const { got } = client(server.port!, false);
    await until(() => streams.length === 1, 5000, "stream open");
    streams[0].es.send({ id: 1, data: "last" });
    streams[0].es.close();
    await until(() => got.text.includes("data: last"), 5000, "last event");
    expect(streams[0].closed).toBe("done");
    expect(streams[0].es.send({ id: 2, data: "x" })).toBe(false);
  });

  test("sse - a reader that stops reading is cut off 64 events behind and its connection reset", async () => {
    const { server, streams } = serveStreams();
    const { got } = client(server.port!, true);
    await until(() => streams.length === 1, 5000, "stream open");
    const es = streams[0].es;
    const big = "x".repeat(64 * 1024); // 64 KiB events: the kernel's buffers fill after some tens of them
    let sent = 0;
    while (es.send({ id: sent + 1, data: big })) {
      sent++;
      if (sent > 10_000) throw new Error("never cut off");
      if (sent % 16 === 0) await Bun.sleep(1); // let Bun try to write, as it would between real events
    }
    expect(streams[0].closed).toBe("slow");
    // Behind by at most 64 events (plus the one that crossed the line), whatever the socket buffers held.
    expect(sent).toBeGreaterThan(64);
    await until(() => got.closed, 5000, "connection reset");
  });

  test("sse - a reader that keeps up is never cut off, through many times the limit", async () => {
    const { server, streams } = serveStreams();
    const { got } = client(server.port!, false);
    await until(() => streams.length === 1, 5000, "stream open");
    const es = streams[0].es;
    const ev = "y".repeat(16 * 1024);
    for (let i = 1; i <= 1000; i++) {
      expect(es.send({ id: i, data: ev })).toBe(true);
      // A writer of live events does not wait; but events come spaced in time: let the socket drain.
      if (i % 32 === 0) await until(() => es.behind.events === 0, 5000, "drain");
    }
    await until(() => got.bytes > 1000 * 16 * 1024, 10_000, "all bytes read");
    expect(streams[0].closed).toBeUndefined();
  });

  test("sse - the byte limit cuts off too (small limit, few big events)", async () => {
    const { server, streams } = serveStreams({ limits: { maxBytes: 1 << 20, maxEvents: 1_000_000 } });
    client(server.port!, true);
    await until(() => streams.length === 1, 5000, "stream open");
    const es = streams[0].es;
    const big = "z".repeat(256 * 1024);
    let sent = 0;
    while (es.send({ id: ++sent, data: big })) {
      if (sent > 2000) throw new Error("never cut off");
      if (sent % 8 === 0) await Bun.sleep(1);
    }
    expect(streams[0].closed).toBe("slow");
  });
});

describe("http sse - outbound body", () => {
  test("outbound - a download that awaits drained() is never cut off and arrives whole", async () => {
    let result: CloseReason | undefined;
    const total = 32 << 20;
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      idleTimeout: 0,
      fetch(req) {
        const out = new Outbound(SPEC_LIMITS, (r) => (result = r), req.signal);
        (async () => {
          const chunk = new Uint8Array(1 << 20).fill(7);
          for (let n = 0; n < total; n += chunk.length) {
            if (!out.write(chunk)) return;
            await out.drained();
          }
          out.end();
        })();
        return new Response(out.body, { headers: { "Content-Length": String(total) } });
      },
    });
    servers.push(server);
    const res = await fetch(`http://127.0.0.1:${server.port}/`);
    let got = 0;
    // A slow reader: it takes a break now and then, so the writer has to wait.
    for await (const c of res.body!) {
      got += c.length;
      if (got % (4 << 20) < c.length) await Bun.sleep(20);
    }
    expect(got).toBe(total);
    await until(() => result !== undefined, 5000, "close");
    expect(result).toBe("done");
  });

  test("outbound - writes made before Bun asks for the body are kept and count toward the limit", async () => {
    const out = new Outbound({ maxBytes: 10, maxEvents: 2 });
    expect(out.write("12345", true)).toBe(true);
    expect(out.write("12345", true)).toBe(true);
    expect(out.write("1", true)).toBe(false); // the third event: over maxEvents
    expect(out.closed).toBe("slow");
    const early = new Outbound();
    early.write("hello ");
    early.write("world");
    early.end();
    expect(await new Response(early.body).text()).toBe("hello world");
  });
});
