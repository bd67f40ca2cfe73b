// A real ClipNode and the library's Client over in-memory connections
// (tests/helpers/memory.ts): the clipboard, kv and the handshake driven in
// process, with no socket and no binary, and what the server holds checked
// directly (its watchers, its open requests, its sessions).

import { afterEach, describe, expect, test } from "bun:test";
import { memoryPair } from "../../src/net/memory.ts";
import { ClipError } from "../../src/protocol/errors.ts";
import { FrameDecoder, FrameType, MAX_FRAME, PROTOCOL_VERSION, encodeFrame, type Frame } from "../../src/protocol/frame.ts";
import { clientProof, nonce } from "../../src/protocol/proof.ts";
import { openRequests } from "../../src/server/session.ts";
import { memoryServer, stopAll, until } from "../helpers/memory.ts";
import { randomBytes, sameBytes } from "../helpers/clip.ts";

afterEach(stopAll);

const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function codeOf(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof ClipError)) throw e;
    return e.code;
  }
  return "none";
}

describe("in-process server - clipboard", () => {
  test("memory - copy, paste and wait round trip; a wait is woken by the next write, not the value already there", async () => {
    const s = memoryServer();
    const c = await s.client();
    await c.copy(3, "old");
    expect(text(await c.paste(3))).toBe("old");
    let woke = false;
    const waiting = c.wait(3).then((v) => ((woke = true), v));
    await until(() => s.node.watchers.count("r/3") === 1, 2000, "the wait to be registered");
    await Bun.sleep(5);
    expect(woke).toBe(false);
    await c.copy(3, "new");
    expect(text((await waiting).value)).toBe("new");
    expect(s.node.watchers.count("r/3")).toBe(0);
    // Larger than what the in-memory "kernel" buffers and what a frame carries: many frames, backpressure.
    const big = randomBytes(3 << 20, 5);
    const w2 = c.wait(4);
    await until(() => s.node.watchers.count("r/4") === 1);
    const r = await c.copy(4, big);
    expect(r.size).toBe(big.length);
    expect(r.rev).toBe(s.node.store.rev);
    expect(sameBytes((await w2).value, big)).toBe(true);
    expect(sameBytes(await c.paste(4), big)).toBe(true);
    expect((await c.list())[4]).toMatchObject({ region: 4, size: big.length, binary: true });
  });

  test("memory - follow gets every later write; breaking out cancels it on the server", async () => {
    const s = memoryServer();
    const c = await s.client();
    const w = await s.client();
    const before = openRequests();
    const seen: string[] = [];
    const reading = (async () => {
      for await (const v of c.follow(6)) {
        seen.push(text(v.value));
        if (seen.length === 3) break;
      }
    })();
    await until(() => s.node.watchers.count("r/6") === 1, 2000, "the follow to be registered");
    expect(openRequests()).toBe(before + 1);
    for (let i = 0; i < 3; i++) await w.copy(6, `n${i}`);
    await reading;
    expect(seen).toEqual(["n0", "n1", "n2"]);
    // The CANCEL reached the server: its watcher and its open request are gone.
    await until(() => s.node.watchers.count("r/6") === 0 && openRequests() === before, 2000, "the server to see the CANCEL");
    await w.copy(6, "after");
    expect(text(await c.paste(6))).toBe("after");
  });

  test("memory - closing a client ends its requests on the server", async () => {
    const s = memoryServer();
    const c = await s.client();
    const before = openRequests();
    const waiting = codeOf(() => c.wait(1));
    await until(() => s.node.watchers.count("r/1") === 1);
    expect(s.node.sessions.size).toBe(1);
    c.close();
    expect(await waiting).toBe("LOST");
    await until(() => s.node.sessions.size === 0 && s.node.watchers.count("r/1") === 0 && openRequests() === before, 2000, "the session to close");
  });
});

describe("in-process server - uploads", () => {
  /** A stream the test feeds by hand: a pipe that has nothing more to give for now. */
  function idleStream() {
    let ctl!: ReadableStreamDefaultController<Uint8Array>;
    const stream = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) });
    return { stream, ctl };
  }

  test("memory - an upload waiting on an idle source ends when the client closes or its signal aborts, and the server drops it", async () => {
    const s = memoryServer();
    const before = openRequests();
    const c = await s.client();
    const a = idleStream();
    const copying = codeOf(() => c.copy(1, a.stream));
    a.ctl.enqueue(randomBytes(1 << 20, 1)); // one whole frame goes; then the source is idle
    await until(() => openRequests() === before + 1, 2000, "the upload to reach the server");
    c.close();
    expect(await Promise.race([copying, Bun.sleep(2000).then(() => "still waiting")])).toBe("LOST");
    await until(() => openRequests() === before, 2000, "the server to drop the first upload");
    const c2 = await s.client();
    const b = idleStream();
    const ctl = new AbortController();
    const aborted = codeOf(() => c2.copy(2, b.stream, { signal: ctl.signal }));
    b.ctl.enqueue(randomBytes(1 << 20, 2));
    await until(() => openRequests() === before + 1, 2000, "the second upload to reach the server");
    ctl.abort();
    expect(await Promise.race([aborted, Bun.sleep(2000).then(() => "still waiting")])).toBe("TIMEOUT");
    // The half values were dropped on the server (CANCEL, close), and the connection that aborted still works.
    await until(() => openRequests() === before, 2000, "the server to drop the uploads");
    expect(s.node.store.get("r/1")).toBeUndefined();
    expect(s.node.store.get("r/2")).toBeUndefined();
    await c2.copy(2, "fine");
    expect(text(await c2.paste(2))).toBe("fine");
  });
});

describe("in-process server - kv", () => {
  test("memory - kv put, get, list, watch and delete, with the group's secret proved on the connection", async () => {
    const s = memoryServer();
    const admin = await s.client();
    const secret = await admin.groups.create("g1");
    expect(await codeOf(() => admin.kv({ group: "g1", secret: "wrong" }))).toBe("AUTH");
    const c = await s.client();
    const kv = await c.kv({ group: "g1", secret });
    expect(await codeOf(() => kv.get("missing"))).toBe("NOTFOUND");
    const watch = kv.watch("k");
    await watch.ready;
    expect(s.node.watchers.count("k/g1/k")).toBe(1);
    const put = await kv.put("k", "v1");
    expect(put.rev).toBe(s.node.store.rev);
    expect(await kv.getText("k")).toBe("v1");
    const big = randomBytes(300_000, 9);
    await kv.put("k", big);
    await kv.del("k");
    const events = [];
    for await (const e of watch) {
      events.push(e);
      if (events.length === 3) break;
    }
    expect(events.map((e) => e.event)).toEqual(["put", "put", "del"]);
    expect(text((events[0] as { value: Uint8Array }).value)).toBe("v1");
    expect(sameBytes((events[1] as { value: Uint8Array }).value, big)).toBe(true);
    expect(events.map((e) => e.rev)).toEqual([put.rev, put.rev + 1, put.rev + 2]);
    await until(() => s.node.watchers.count("k/g1/k") === 0, 2000, "the watch to end on the server");
    await kv.put("a/1", "x");
    await kv.put("a/2", "y");
    expect((await kv.list("a/")).map((k) => k.key)).toEqual(["a/1", "a/2"]);
    // A connection that has not proved the secret is refused, whatever it names.
    const other = await s.client();
    expect(await codeOf(() => other.call("kv.get", { group: "g1", key: "a/1" }))).toBe("AUTH");
  });
});

describe("in-process server - handshake", () => {
  test("memory - over a tcp pair with a token: the client proves it and the server proves it back; then it is admin", async () => {
    const s = memoryServer({ token: "sesame" });
    const c = await s.client({ transport: "tcp", token: "sesame" });
    expect(c.welcome.auth).toBe("token");
    expect(c.welcome.admin).toBe(true);
    expect((await c.status()).name).toBe("mem");
    await c.copy(1, "over tcp");
    expect(text(await c.paste(1))).toBe("over tcp");
  });

  test("memory - a wrong token or none is refused, and the session is closed", async () => {
    const s = memoryServer({ token: "sesame" });
    expect(await codeOf(() => s.client({ transport: "tcp", token: "wrong" }))).toBe("AUTH");
    expect(await codeOf(() => s.client({ transport: "tcp" }))).toBe("AUTH");
    await until(() => s.node.sessions.size === 0, 5000, "the refused sessions to close");
    // Over the unix socket no proof is asked; an --insecure server trusts its tcp too.
    const u = await s.client();
    expect((await u.ready()).auth).toBe("none");
    expect(u.welcome.admin).toBe(true);
    const open = memoryServer({ insecure: true, name: "open" });
    const t = await open.client({ transport: "tcp" });
    expect(t.welcome).toMatchObject({ auth: "none", admin: true });
  });

  test("memory - a client refuses a server that cannot prove it holds the token", async () => {
    const s = memoryServer({ token: "sesame" });
    let asked = 0;
    // An impostor: accepts any proof and answers with one it cannot have made.
    s.node.use({
      auth: {
        preAuth: true,
        run({ session }) {
          asked++;
          session.admin = true;
          session.ready();
          return { proof: "00".repeat(32) };
        },
      },
    });
    const err = await s.client({ transport: "tcp", token: "sesame" }).then(
      () => null,
      (e) => e as ClipError,
    );
    expect(asked).toBe(1);
    expect(err?.code).toBe("AUTH");
    expect(err?.message).toContain("could not prove");
  });

  test("memory - the server checks the proof: before it, nothing but auth is answered; a proof for another nonce fails", async () => {
    const s = memoryServer({ token: "sesame" });
    const [near, far] = memoryPair({ transport: "tcp" });
    far.handler = s.node.accept(far);
    const frames: Frame[] = [];
    const dec = new FrameDecoder(MAX_FRAME);
    near.handler = { data: (b) => frames.push(...dec.push(b)), closed() {} };
    const reply = async (id: number) => {
      await until(() => frames.some((f) => f.id === id), 5000, `the answer to stream ${id}`);
      return frames.find((f) => f.id === id)!;
    };
    near.send(encodeFrame(FrameType.REQ, 1, { op: "hello", v: PROTOCOL_VERSION, kind: "lib", pid: 1 }));
    const welcome = await reply(1);
    expect(welcome.meta).toMatchObject({ auth: "token", admin: false });
    near.send(encodeFrame(FrameType.REQ, 2, { op: "paste", r: 1 }));
    const early = await reply(2);
    expect(early.type).toBe(FrameType.ERR);
    expect(early.meta.code).toBe("AUTH");
    // A proof made with the right token but for another server nonce.
    const cnonce = nonce();
    near.send(encodeFrame(FrameType.REQ, 3, { op: "auth", cnonce, proof: clientProof("sesame", nonce(), cnonce) }));
    const refused = await reply(3);
    expect(refused.type).toBe(FrameType.ERR);
    expect(refused.meta.code).toBe("AUTH");
    await until(() => near.isClosed, 5000, "the server to close the connection");
  });
});
