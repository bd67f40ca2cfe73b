// The tree when things break: kill -9 of an intermediate server under load,
// split and heal with writes on both sides, refused joins (cycle, token),
// TLS, and peers that misbehave.

import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { readdirSync, writeFileSync } from "node:fs";
import type { Client } from "../../src/index.ts";
import { clip, waitFor } from "../helpers/clip.ts";
import { TreeFixture } from "../helpers/tree.ts";

const str = (b: Uint8Array) => new TextDecoder().decode(b);

/** Writes name-0, name-1, ... to one region until stopped; remembers the last write acknowledged. */
function writer(c: Client, region: number, name: string, pad = 0) {
  const value = (i: number) => `${name}-${i}${"-".repeat(pad)}`;
  let stop = false;
  let acked = -1;
  let errors = 0;
  const done = (async () => {
    for (let i = 0; !stop; i++) {
      try {
        await c.copy(region, value(i));
        acked = i;
      } catch {
        errors++;
        await Bun.sleep(10);
      }
    }
  })();
  return {
    get acked() {
      return acked;
    },
    get errors() {
      return errors;
    },
    get last() {
      return value(acked);
    },
    async stop() {
      stop = true;
      await done;
    },
  };
}

describe("tree failures", () => {
  test("tree - kill -9 of an intermediate server mid-load: both sides serve, and after restart all converge with no acknowledged write lost", async () => {
    await using t = new TreeFixture();
    //   R ── S
    //   │
    //   M ── L, L2      (M is killed)
    await t.add({ name: "R" });
    await t.add({ name: "S", connect: ["R"] });
    await t.add({ name: "M", connect: ["R"] });
    await Promise.all([t.add({ name: "L", connect: ["M"] }), t.add({ name: "L2", connect: ["M"] })]);
    const ws = [
      writer(await t.get("R").client(), 1, "R"),
      writer(await t.get("S").client(), 2, "S"),
      writer(await t.get("L").client(), 3, "L"),
      writer(await t.get("L2").client(), 4, "L2", 70_000), // over the inline size: values travel as files
    ];
    await waitFor(() => ws.every((w) => w.acked >= 20), 20_000, "writes before the kill");
    await t.get("M").stop("SIGKILL");
    // Both sides keep serving: every writer goes on being acknowledged.
    const at = ws.map((w) => w.acked);
    await waitFor(() => ws.every((w, i) => w.acked >= at[i] + 20), 20_000, "writes on both sides after the kill");
    await waitFor(() => /warn +parent lost: /.test(t.get("L").stderr()), 5000, "L to log the split");
    expect((await t.get("L").status()).role).toBe("root");
    await t.get("M").restart();
    await Promise.all([t.synced("M"), t.synced("L"), t.synced("L2")]);
    const after = ws.map((w) => w.acked);
    await waitFor(() => ws.every((w, i) => w.acked >= after[i] + 5), 20_000, "writes after the heal");
    await Promise.all(ws.map((w) => w.stop()));
    // Each region has one writer: its last acknowledged write is what every server holds.
    for (const [i, w] of ws.entries()) await t.converged(i + 1, (b) => str(b) === w.last, 15_000);
    expect(ws.reduce((n, w) => n + w.errors, 0)).toBe(0);
    // No staged copy or value in flight is left behind: every file in blobs/ is a value some entry or history row holds
    // (replaced files are unlinked just after the acknowledgement, so this settles rather than holds at once).
    const { Database } = await import("bun:sqlite");
    const stray = (n: { name: string; data: string }) => {
      const db = new Database(join(n.data, "state.db"), { readonly: true });
      const held = (db.query("SELECT file FROM entries WHERE file IS NOT NULL UNION SELECT file FROM history WHERE file IS NOT NULL").all() as { file: string }[]).map((r) => r.file).sort();
      db.close();
      return JSON.stringify(readdirSync(join(n.data, "blobs")).sort()) === JSON.stringify(held) ? null : `${n.name}: ${readdirSync(join(n.data, "blobs")).length} files, ${held.length} held`;
    };
    for (const n of t.nodes.values()) await waitFor(() => stray(n) === null, 5_000, `no stray value files on ${n.name}`);
  });

  test("tree - split and heal with writes on both sides keeps the newer write per region", async () => {
    await using t = new TreeFixture();
    await t.add({ name: "R" });
    await t.add({ name: "M", connect: ["R"] });
    await t.add({ name: "C", connect: ["M"] });
    const r = await t.get("R").client();
    const c = await t.get("C").client();
    await r.copy(9, "before the split");
    await t.converged(9, (b) => str(b) === "before the split");
    await t.get("M").stop("SIGKILL");
    await waitFor(async () => (await t.get("C").status()).role === "root", 5000, "C to become a root");
    // Region 1: C first, R later (R's wins). Region 2: R first, C later (C's wins).
    await c.copy(1, "c older");
    await Bun.sleep(5);
    await r.copy(1, "r newer");
    await r.copy(2, "r older");
    await Bun.sleep(5);
    await c.copy(2, "c newer");
    await c.copy(3, "only on c");
    await r.copy(4, "only on r");
    await t.get("M").restart();
    await Promise.all([t.synced("M"), t.synced("C")]);
    await t.converged(1, (b) => str(b) === "r newer");
    await t.converged(2, (b) => str(b) === "c newer");
    await t.converged(3, (b) => str(b) === "only on c");
    await t.converged(4, (b) => str(b) === "only on r");
    await t.converged(9, (b) => str(b) === "before the split");
    // The heal is logged with what the merge took from each side.
    await waitFor(() => /merge took 2 entries from the parent and sends 2 up/.test(t.get("C").stderr()), 5000, "C's merge line");
  });

  test("tree - when the root dies, its orphaned subtree re-roots at the orphaned child as one tree; --connect addresses are tried in order", async () => {
    await using t = new TreeFixture();
    const { freePort } = await import("../helpers/tree.ts");
    await t.add({ name: "R", memory: true });
    // A's first address has nobody behind it: it goes on to the second.
    await t.add({ name: "A", connect: [`127.0.0.1:${freePort()}`, "R"], memory: true });
    await Promise.all([t.add({ name: "B", connect: ["A"], memory: true }), t.add({ name: "B2", connect: ["A"], memory: true })]);
    await t.get("R").stop("SIGKILL");
    await waitFor(async () => (await t.get("A").status()).role === "root", 5000, "A to become the root");
    for (const n of ["B", "B2"]) {
      const st = await t.get(n).status();
      expect(st.upstream).toBe("synced");
      expect((st.parent as { name: string }).name).toBe("A");
    }
    await (await t.get("B").client()).copy(1, "one tree still");
    await t.converged(1, (b) => str(b) === "one tree still", 10_000, ["A", "B", "B2"]);
    const tree = await (await t.get("B2").client()).tree();
    expect((tree.root as { name: string }).name).toBe("A");
  });

  test("tree - a join that would close a cycle is refused", async () => {
    await using t = new TreeFixture();
    const { freePort } = await import("../helpers/tree.ts");
    // X joins Y and Y joins X: one of the two joins must be refused.
    const yPort = freePort();
    const x = await t.add({ name: "X", connect: [`127.0.0.1:${yPort}`], waitSynced: false });
    const yDir = join(String(t.dir), "Y");
    const { startServer } = await import("../helpers/clip.ts");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(yDir);
    await using y = await startServer({ dir: yDir, name: "Y", args: ["--listen", `tcp:127.0.0.1:${yPort}`, "--token-file", t.tokenFile, "--connect", x.addr] });
    await waitFor(() => /cycle/.test(x.stderr() + y.stderr()), 15_000, "a refused join");
    expect(x.stderr() + y.stderr()).toMatch(/join refused: .*cycle/);
    // One tree of two, one root.
    const sx = await x.status();
    const sy = (await clip(["status", "--json", "--server", `unix:${y.socket}`])).text;
    const roles = [sx.role, JSON.parse(sy).role].sort();
    expect(roles).toEqual(["child", "root"]);
  });

  test("tree - a wrong or missing token is refused without leaking state", async () => {
    await using t = new TreeFixture("right-token");
    const root = await t.add({ name: "R" });
    await (await root.client()).copy(1, "secret data");
    const wrong = join(String(t.dir), "wrong");
    writeFileSync(wrong, "wrong-token\n");
    const child = await t.add({ name: "W", connect: ["R"], tokenFile: wrong, waitSynced: false });
    await waitFor(() => /cannot join: .*bad token/.test(child.stderr()), 10_000, "the child's refusal");
    expect(root.stderr()).toMatch(/bad token/);
    expect((await child.status()).role).toBe("root");
    expect((await (await child.client()).paste(1)).length).toBe(0);
    expect((await root.status()).children).toEqual([]);
    // Remote clients too: a wrong token and no token are both exit 4, and nothing is read.
    const bad = await clip(["paste", "1", "--server", `tcp:${root.addr}`, "--token-file", wrong]);
    expect(bad.code).toBe(4);
    expect(bad.stdout.length).toBe(0);
    const none = await clip(["paste", "1", "--server", `tcp:${root.addr}`], { env: { CLIP_TOKEN: undefined } });
    expect(none.code).toBe(4);
    const good = await clip(["paste", "1", "--server", `tcp:${root.addr}`, "--token-file", t.tokenFile]);
    expect(good.text).toBe("secret data");
  });

  test("tree - a TLS join works and carries writes both ways", async () => {
    await using t = new TreeFixture();
    const cert = join(String(t.dir), "cert.pem");
    const key = join(String(t.dir), "key.pem");
    const gen = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], { stderr: "pipe" });
    expect(gen.exitCode).toBe(0);
    const root = await t.add({ name: "R", args: ["--tls-cert", cert, "--tls-key", key] });
    const child = await t.add({ name: "C", connect: ["R"], args: ["--tls-ca", cert] });
    await (await child.client()).copy(2, "over tls");
    expect(str(await (await root.client()).paste(2))).toBe("over tls");
    await (await root.client()).copy(3, "and back");
    await t.converged(3, (b) => str(b) === "and back");
    // A remote client over TLS, and one that does not trust the certificate.
    const ok = await clip(["paste", "2", "--server", `tcp:${root.addr}`, "--token-file", t.tokenFile, "--tls-ca", cert]);
    expect(ok.text).toBe("over tls");
    const untrusted = await t.add({ name: "U", connect: ["R"], waitSynced: false });
    await waitFor(() => /cannot join/.test(untrusted.stderr()), 10_000, "the untrusted join to fail");
    expect((await untrusted.status()).role).toBe("root");
  });
});
