// SPEC "End-to-end encryption": servers stay blind. A tree of two servers
// with a recording TCP relay on each link (the child's --connect goes
// through one, the client's --server through the other): sealed values
// written on either side, through the child and at the root, whole and in
// many frames, regions and keys, never show their plaintext (a random
// marker) in anything the relays saw nor in any file under either server's
// data folder; a reader with the key still gets them back. The same checks
// find a plain value's marker, so they can fail.

import { describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import { clip, randomBytes, sameBytes, tempDir, waitFor } from "../helpers/clip.ts";
import { TreeFixture } from "../helpers/tree.ts";

interface Pipe {
  peer: Socket<Pipe> | null;
  /** Bytes for `peer` not yet taken by it (it was not open yet, or its buffer was full). */
  queue: Uint8Array[];
}

/**
 * A TCP relay on 127.0.0.1 to `port`: every connection made to it is
 * forwarded to the target and back, and every byte either way is recorded.
 */
class RecordingRelay implements Disposable {
  readonly seen: Uint8Array[] = [];
  private readonly listener: TCPSocketListener<Pipe>;
  private readonly sockets = new Set<Socket<Pipe>>();

  constructor(port: number) {
    const record = (c: Uint8Array) => this.seen.push(Uint8Array.from(c));
    const pipe = {
      data: (s: Socket<Pipe>, chunk: Uint8Array) => {
        record(chunk);
        const to = s.data.peer;
        if (!to) s.data.queue.push(Uint8Array.from(chunk));
        else send(to, chunk);
      },
      drain: (s: Socket<Pipe>) => flush(s),
      close: (s: Socket<Pipe>) => {
        this.sockets.delete(s);
        s.data.peer?.end();
      },
      error: () => {},
    };
    // The queue of bytes waiting for socket `to` lives on `to`'s data.
    const send = (to: Socket<Pipe>, chunk: Uint8Array) => {
      if (to.data.queue.length > 0) {
        to.data.queue.push(Uint8Array.from(chunk));
        return;
      }
      const n = to.write(chunk);
      if (n < chunk.length) to.data.queue.push(Uint8Array.from(chunk.subarray(Math.max(0, n))));
    };
    const flush = (to: Socket<Pipe>) => {
      while (to.data.queue.length > 0) {
        const c = to.data.queue[0];
        const n = to.write(c);
        if (n < c.length) {
          to.data.queue[0] = c.subarray(Math.max(0, n));
          return;
        }
        to.data.queue.shift();
      }
    };
    this.listener = Bun.listen<Pipe>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        ...pipe,
        open: (client) => {
          client.data = { peer: null, queue: [] };
          this.sockets.add(client);
          client.pause(); // until the target answers: what the client sends waits in the kernel
          Bun.connect<Pipe>({
            hostname: "127.0.0.1",
            port,
            socket: {
              ...pipe,
              open: (up) => {
                this.sockets.add(up);
                // Bytes for the target were recorded on arrival and queued on the client's side: move them.
                up.data = { peer: client, queue: [] };
                for (const c of client.data.queue.splice(0)) send(up, c);
                client.data.peer = up;
                client.resume();
              },
            },
          }).catch(() => client.end());
        },
      },
    });
  }

  get address(): string {
    return `127.0.0.1:${this.listener.port}`;
  }

  /** Everything that went through, both ways, as one buffer per socket direction joined: a marker split across reads is still found. */
  contains(marker: Uint8Array): boolean {
    return Buffer.concat(this.seen).includes(Buffer.from(marker));
  }

  get bytes(): number {
    return this.seen.reduce((n, c) => n + c.length, 0);
  }

  [Symbol.dispose](): void {
    for (const s of this.sockets) s.terminate();
    this.listener.stop(true);
  }
}

/** Every regular file under `dir` (values, the database, its journal), read whole. */
function filesUnder(dir: string): { path: string; bytes: Buffer }[] {
  const out: { path: string; bytes: Buffer }[] = [];
  for (const name of readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, name);
    try {
      if (statSync(path).isFile()) out.push({ path, bytes: readFileSync(path) });
    } catch {
      // removed meanwhile (a value file released)
    }
  }
  return out;
}

const marker = () => new TextEncoder().encode(`MARK-${Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex")}`);

describe("encryption - blind servers", () => {
  test("encryption - a sealed value's plaintext is never on a link of the tree nor in any server's data folder; a plain one's is", async () => {
    await using tree = new TreeFixture();
    using d = tempDir("cr");
    const root = await tree.add({ name: "root" });
    using up = new RecordingRelay(root.port);
    const child = await tree.add({ name: "child", connect: [up.address] });
    using front = new RecordingRelay(child.port);
    const config = join(String(d), "cfg");
    mkdirSync(config);
    const env = { XDG_CONFIG_HOME: config, CLIP_KEY_FILE: "", CLIP_ENCRYPT: "" };
    expect((await clip(["keygen"], { env })).code).toBe(0);
    const viaFront = ["--server", `tcp:${front.address}`, "--token-file", tree.tokenFile];
    const run = (args: string[], stdin?: Uint8Array | string) => clip([...args, ...viaFront], { env, stdin });
    const atRoot = (args: string[], stdin?: Uint8Array | string) => root.run(args, { env, stdin });

    // Sealed: small and large (many frames) through the child, one written at the root, a key of a group.
    const small = marker();
    const large = marker();
    const fromRoot = marker();
    const inKey = marker();
    const big = randomBytes(3 << 20, 9);
    for (let o = 0; o + large.length < big.length; o += 100_003) big.set(large, o);
    expect((await run(["copy", "1", "--encrypt"], Buffer.concat([Buffer.from("note: "), small])))).toMatchObject({ code: 0 });
    expect((await run(["copy", "2", "--encrypt"], big)).code).toBe(0);
    expect((await atRoot(["copy", "3", "--encrypt"], fromRoot)).code).toBe(0);
    const secret = (await atRoot(["group", "create", "g"])).text.trim();
    const kvEnv = { ...env, CLIP_GROUP: "g", CLIP_SECRET: secret };
    expect((await clip(["kv", "put", "k", "--encrypt", ...viaFront], { env: kvEnv, stdin: inKey })).code).toBe(0);
    // Everything has reached both servers (the root's writes come down through the relay).
    const c = await child.client();
    await waitFor(async () => (await c.list())[3].rev > 0 && (await c.status()).rev === (await (await root.client()).status()).rev, 15_000, "the child to hold every write");

    // Readers with the key get each back, through the relays and at the root.
    expect(sameBytes((await run(["paste", "1"])).stdout, Buffer.concat([Buffer.from("note: "), small]))).toBe(true);
    expect(sameBytes((await atRoot(["paste", "2"])).stdout, big)).toBe(true);
    expect(sameBytes((await run(["paste", "2"])).stdout, big)).toBe(true);
    expect(sameBytes((await run(["paste", "3"])).stdout, fromRoot)).toBe(true);
    expect(sameBytes((await clip(["kv", "get", "k", ...viaFront], { env: kvEnv })).stdout, inKey)).toBe(true);

    // A plain copy, for contrast: the same checks find its marker.
    const open = marker();
    expect((await run(["copy", "4"], open)).code).toBe(0);
    await waitFor(async () => (await (await root.client()).list())[4].rev > 0, 10_000, "the plain copy at the root");
    const files = [...filesUnder(root.data), ...filesUnder(child.data)];
    const inFiles = (m: Uint8Array) => files.filter((f) => f.bytes.includes(Buffer.from(m))).map((f) => f.path);
    expect(up.contains(open)).toBe(true);
    expect(front.contains(open)).toBe(true);
    expect(inFiles(open).length).toBeGreaterThan(0);

    // The relays carried the values (the large one went up from the child whole), sealed.
    expect(up.bytes).toBeGreaterThan(big.length);
    expect(front.bytes).toBeGreaterThan(2 * big.length);
    for (const [name, m] of [
      ["small", small],
      ["large", large],
      ["from the root", fromRoot],
      ["a key", inKey],
    ] as const) {
      expect({ name, up: up.contains(m), front: front.contains(m), files: inFiles(m) }).toEqual({ name, up: false, front: false, files: [] });
    }
  }, 60_000);

  test("encryption - every server of a tree leaves sealed values the room --max-size gives them: forwarded up, relayed down, in a joining server's snapshot", async () => {
    await using tree = new TreeFixture();
    using d = tempDir("cm");
    const args = ["--max-size", "1M"];
    const root = await tree.add({ name: "root", args });
    const child = await tree.add({ name: "child", connect: ["root"], args });
    const config = join(String(d), "cfg");
    mkdirSync(config);
    const env = { XDG_CONFIG_HOME: config, CLIP_KEY_FILE: "", CLIP_ENCRYPT: "" };
    expect((await clip(["keygen"], { env })).code).toBe(0);
    const up = randomBytes(1 << 20, 1); // exactly --max-size: sealed, it is 309 bytes over
    const down = randomBytes(1 << 20, 2);
    const w1 = await child.run(["copy", "1", "--encrypt"], { env, stdin: up });
    expect(w1.stderr).toBe("");
    expect(w1.code).toBe(0);
    const w2 = await root.run(["copy", "2", "--encrypt"], { env, stdin: down });
    expect(w2.code).toBe(0);
    const late = await tree.add({ name: "late", connect: ["child"], args });
    for (const n of [root, child, late]) {
      await waitFor(async () => {
        const r = JSON.parse((await n.run(["list", "--json"])).text);
        return r[1].encrypted && r[2].encrypted;
      }, 10_000, `${n.name} to hold both`);
      const rows = JSON.parse((await n.run(["list", "--json"])).text);
      expect([rows[1].size, rows[2].size]).toEqual([(1 << 20) + 309, (1 << 20) + 309]);
      expect(sameBytes((await n.run(["paste", "1"], { env })).stdout, up)).toBe(true);
      expect(sameBytes((await n.run(["paste", "2"], { env })).stdout, down)).toBe(true);
    }
    // Taken the first time, not after a refusal and a rejoin (which would converge too).
    for (const n of [root, child, late]) expect(n.stderr()).not.toMatch(/max-size/);
  }, 60_000);
});
