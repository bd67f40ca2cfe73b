// Peers that misbehave, on both sides of a link: a parent that stalls
// mid-snapshot or claims an impossible sequence, a client that sends garbage
// or speaks an old protocol, a child that stops reading. Each is refused or
// dropped with a log line saying why, and the servers carry on.

import { describe, expect, test } from "bun:test";
import { connect as netConnect, type Socket } from "node:net";
import { FrameDecoder, FrameType, PROTOCOL_VERSION, encodeFrame, type Frame } from "../../src/protocol/frame.ts";
import { clientProof, nonce, serverProof } from "../../src/protocol/proof.ts";
import { randomBytes, waitFor } from "../helpers/clip.ts";
import { TreeFixture } from "../helpers/tree.ts";

const TOKEN = "peer-test-token";
const str = (b: Uint8Array) => new TextDecoder().decode(b);

type Script = (send: (f: Uint8Array) => void, join: Frame) => void;

/** A fake parent: proves the token properly, then answers tree.join with `script`. */
function fakeParent(script: Script) {
  const parentInfo = { id: "fakeparent01", name: "fake", addrs: [], role: "root", clients: 0, rev: 0 };
  const server = Bun.listen<{ dec: FrameDecoder; snonce: string }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.data = { dec: new FrameDecoder(), snonce: nonce() };
      },
      data(s, chunk) {
        for (const f of s.data.dec.push(chunk)) {
          if (f.type !== FrameType.REQ) continue;
          const send = (b: Uint8Array) => s.write(b);
          if (f.meta.op === "hello") send(encodeFrame(FrameType.RES, f.id, { v: PROTOCOL_VERSION, server: "fake", id: parentInfo.id, auth: "token", nonce: s.data.snonce, admin: false }));
          else if (f.meta.op === "auth") send(encodeFrame(FrameType.RES, f.id, { proof: serverProof(TOKEN, s.data.snonce, String(f.meta.cnonce)) }));
          else if (f.meta.op === "tree.join") {
            send(encodeFrame(FrameType.EVT, f.id, { t: "path", path: [], parent: parentInfo, size: 0 }));
            script(send, f);
          }
        }
      },
    },
  });
  return { port: server.port, [Symbol.dispose]: () => server.stop(true) };
}

/** A raw TCP client that proves the token and then does what the test says. */
async function rawPeer(port: number): Promise<{ sock: Socket; frames: Frame[]; send(f: Uint8Array): void; handshake(kind?: string, v?: number): Promise<Frame> }> {
  const sock = netConnect({ host: "127.0.0.1", port });
  await new Promise<void>((r, j) => sock.once("connect", r).once("error", j));
  const dec = new FrameDecoder();
  const frames: Frame[] = [];
  sock.on("data", (c: Buffer) => frames.push(...dec.push(new Uint8Array(c))));
  sock.on("error", () => {});
  const send = (f: Uint8Array) => sock.write(f);
  return {
    sock,
    frames,
    send,
    async handshake(kind = "peer", v = PROTOCOL_VERSION) {
      send(encodeFrame(FrameType.REQ, 1, { op: "hello", v, kind, name: "raw" }));
      const welcome = await waitFor(() => frames.find((f) => f.id === 1), 5000, "welcome");
      if (welcome.type !== FrameType.RES) return welcome;
      const cnonce = nonce();
      send(encodeFrame(FrameType.REQ, 2, { op: "auth", cnonce, proof: clientProof(TOKEN, String(welcome.meta.nonce), cnonce) }));
      return await waitFor(() => frames.find((f) => f.id === 2), 5000, "auth answer");
    },
  };
}

describe("tree peers", () => {
  test("tree - a parent that stalls mid-snapshot is dropped; the child keeps serving", async () => {
    using parent = fakeParent((send, join) => {
      // An entry announcing 100000 bytes, of which 1000 come, then silence.
      send(encodeFrame(FrameType.EVT, join.id, { t: "entry", key: "r/1", ver: { t: 1, n: "x" }, rev: 1, dropped: 0, meta: {}, has: true, size: 100000 }, new Uint8Array(1000), false));
    });
    await using t = new TreeFixture(TOKEN);
    const child = await t.add({ name: "C", connect: [`127.0.0.1:${parent.port}`], waitSynced: false, env: { CLIP_TREE_STALL_MS: "1500" } });
    await waitFor(() => /parent stalled/.test(child.stderr()), 10_000, "the stall to be noticed");
    const c = await child.client();
    expect((await c.paste(1)).length).toBe(0); // the half value never landed
    await c.copy(3, "still serving");
    expect(str(await c.paste(3))).toBe("still serving");
    expect((await child.status()).role).toBe("root");
  });

  test("tree - a parent that claims an impossible sequence is dropped", async () => {
    using parent = fakeParent((send, join) => {
      send(encodeFrame(FrameType.EVT, join.id, { t: "synced", rev: 5, entries: 0, size: 0 }));
      const bad = new TextEncoder().encode("bad");
      send(encodeFrame(FrameType.EVT, join.id, { t: "op", rev: 9, op: { key: "r/2", ver: { t: Date.now() * 1000, n: "x" }, meta: {}, has: true }, size: 3 }, bad));
    });
    await using t = new TreeFixture(TOKEN);
    const child = await t.add({ name: "C", connect: [`127.0.0.1:${parent.port}`], waitSynced: false });
    await waitFor(() => /impossible sequence: the parent sent write 9 after 5/.test(child.stderr()), 10_000, "the bad sequence to be refused");
    const c = await child.client();
    expect((await c.paste(2)).length).toBe(0);
    await c.copy(3, "still serving");
    expect(str(await c.paste(3))).toBe("still serving");
  });

  test("tree - garbage, an old protocol version and a child that stops reading: refused or dropped, the tree carries on", async () => {
    await using t = new TreeFixture(TOKEN);
    const root = await t.add({ name: "R", memory: true });
    await t.add({ name: "A", connect: ["R"], memory: true });

    // Garbage on the TCP port.
    const g = await rawPeer(root.port);
    g.send(randomBytes(4096, 9));
    await waitFor(() => /protocol error/.test(root.stderr()), 5000, "the garbage to be refused");
    g.sock.destroy();

    // An old protocol version.
    const old = await rawPeer(root.port);
    const answer = await old.handshake("peer", 0);
    expect(answer.type).toBe(FrameType.ERR);
    expect(answer.meta.code).toBe("VERSION");
    await waitFor(() => /hello refused: .*protocol version 0/.test(root.stderr()), 5000, "the version refusal in the log");
    old.sock.destroy();

    // A child that stops reading (SIGSTOP) while large writes pile up: dropped, then back by snapshot.
    const slow = await t.add({ name: "S", connect: ["R"], memory: true });
    const rc = await root.client();
    process.kill(slow.pid, "SIGSTOP");
    let last: Uint8Array = new Uint8Array(0);
    try {
      for (let i = 0; i < 400 && !/child (left|dropped): S .*(too far behind|behind)/.test(root.stderr()); i++) {
        last = randomBytes(1 << 20, i + 1);
        await rc.copy(6, last);
      }
      await waitFor(() => /child (left|dropped): S .*(too far behind|behind)/.test(root.stderr()), 10_000, "the slow child to be dropped").catch((e) => {
        throw new Error(`${e.message}; root log:\n${root.stderr()}`);
      });
    } finally {
      process.kill(slow.pid, "SIGCONT");
    }
    await waitFor(() => (root.stderr().match(/child joined: S /g) ?? []).length >= 2, 15_000, "the slow child to come back");
    await t.converged(6, (b) => b.length === last.length && Buffer.compare(Buffer.from(b), Buffer.from(last)) === 0, 15_000, ["S"]);

    // Through all of it, the rest of the tree went on.
    await rc.copy(7, "after the trouble");
    await t.converged(7, (b) => str(b) === "after the trouble");
    expect((await t.get("A").status()).upstream).toBe("synced");
  });
});
