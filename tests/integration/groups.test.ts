// SPEC "Groups and keys", the group side, through the compiled binary and the
// library: secrets, the one AUTH message, rotation, deletion under a live
// watch, admin rights over TCP, apps, persistence across kill -9, shutdown.

import { describe, expect, test } from "bun:test";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../../src/index.ts";
import { type ServerHandle, clip, spawnClip, startServer, tcpAddressOf, tempDir, waitFor } from "../helpers/clip.ts";

async function createGroup(s: ServerHandle, g: string): Promise<string> {
  const r = await s.run(["group", "create", g]);
  expect(r.code).toBe(0);
  return r.text.trim();
}

/** Waits until `apps` on the server lists an open watch of group/key (count of them). */
async function watchersOf(s: ServerHandle, gk: string, n = 1): Promise<void> {
  const c = await connect(`unix:${s.socket}`);
  try {
    await waitFor(async () => (await c.apps()).apps.filter((a) => a.watches.includes(gk)).length >= n, 10_000, `${n} watcher(s) of ${gk}`);
  } finally {
    c.close();
  }
}

describe("groups", () => {
  test("groups - create prints a new secret of 128+ bits alone; list and info report it", async () => {
    await using s = await startServer({ memory: true });
    const r = await s.run(["group", "create", "app"]);
    expect(r.code).toBe(0);
    expect(r.text).toMatch(/^[A-Za-z0-9_-]+\n$/);
    expect(Buffer.from(r.text.trim(), "base64url").length * 8).toBeGreaterThanOrEqual(128);
    const other = await createGroup(s, "other.2_x-Y");
    expect(other).not.toBe(r.text.trim());

    const list = await s.run(["group", "list", "--json"]);
    expect(list.code).toBe(0);
    const groups = JSON.parse(list.text);
    expect(groups.map((g: { group: string }) => g.group)).toEqual(["app", "other.2_x-Y"]);
    expect(list.text).not.toContain(r.text.trim());
    const table = await s.run(["group", "list"]);
    expect(table.text).toMatch(/^GROUP\s+KEYS/);
    expect(table.text).toContain("other.2_x-Y");

    const S = r.text.trim();
    expect((await s.run(["kv", "put", "-g", "app", "--secret", S, "a", "1"])).code).toBe(0);
    const info = await s.run(["group", "info", "app", "--json"]);
    expect(info.code).toBe(0);
    const i = JSON.parse(info.text);
    expect(i).toMatchObject({ group: "app", keys: 1, apps: 0 });
    expect(Math.abs(i.created - Date.now())).toBeLessThan(60_000);
    expect(JSON.stringify(i)).not.toContain(S);
    expect((await s.run(["group", "info", "app"])).text).toMatch(/keys\s+1/);
  });

  test("groups - bad names are usage errors; duplicates and missing groups are refused", async () => {
    await using s = await startServer({ memory: true });
    for (const bad of ["", "a b", "x/y", "é", "a".repeat(65)]) {
      const r = await s.run(["group", "create", bad]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^clip: bad group name .*\n$/);
    }
    expect((await s.run(["group", "create", "a".repeat(64)])).code).toBe(0);
    await createGroup(s, "g");
    const dup = await s.run(["group", "create", "g"]);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toMatch(/^clip: group "g" exists already.*\n$/);
    for (const action of ["delete", "info", "rotate"]) {
      const r = await s.run(["group", action, "nope"]);
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/^clip: no group "nope".*\n$/);
    }
    const unknown = await s.run(["group", "frob", "g"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.split("\n").length).toBe(2);
    const help = await s.run(["group", "create", "--help"]);
    expect(help.code).toBe(0);
    expect(help.text).toContain("clip group create app");
  });

  test("groups - unknown group and wrong secret give exit 4 with one identical message, slowed and logged", async () => {
    await using s = await startServer({ memory: true });
    const S = await createGroup(s, "app");
    const wrong = await s.run(["kv", "get", "-g", "app", "--secret", S.slice(0, -1) + (S.endsWith("A") ? "B" : "A"), "k"]);
    const unknown = await s.run(["kv", "get", "-g", "nosuch", "--secret", S, "k"]);
    expect(wrong.code).toBe(4);
    expect(unknown.code).toBe(4);
    expect(wrong.stderr).toBe(unknown.stderr);
    expect(wrong.stderr).toMatch(/^(clip: warning: --secret .*\n)?clip: unknown group or wrong secret.*\n$/);
    expect(s.stderr()).toMatch(/warn\s+bad group secret: group "app" .*answering in \d+ ms/);
    expect(s.stderr()).toMatch(/bad group secret: group "nosuch"/);
    expect(s.stderr()).not.toContain(S);
    // The library gets the same refusal, as a ClipError with code AUTH.
    const c = await connect(`unix:${s.socket}`);
    try {
      await expect(c.kv({ group: "app", secret: "nope" })).rejects.toMatchObject({ code: "AUTH" });
      // Still usable afterwards with the right secret.
      const kv = await c.kv({ group: "app", secret: S });
      await kv.put("k", "v");
      expect(await kv.getText("k")).toBe("v");
    } finally {
      c.close();
    }
    // Missing secret or group: a usage error before anything is sent.
    const noSecret = await s.run(["kv", "get", "-g", "app", "k"], { env: { CLIP_SECRET: "" } });
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toMatch(/^clip: no secret.*\n$/);
    const noGroup = await s.run(["kv", "get", "k"], { env: { CLIP_GROUP: "" } });
    expect(noGroup.code).toBe(2);
  });

  test("groups - the secret is stored only as a salted hash", async () => {
    await using s = await startServer({});
    const S = await createGroup(s, "app");
    await s.stop();
    for (const f of readdirSync(s.data)) {
      const p = join(s.data, f);
      try {
        expect(readFileSync(p).includes(Buffer.from(S))).toBe(false);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EISDIR") throw e;
      }
    }
  });

  test("groups - rotate issues a new secret: the old one stops working and its sessions are closed", async () => {
    await using s = await startServer({ memory: true });
    const old = await createGroup(s, "app");
    expect((await s.run(["kv", "put", "-g", "app", "--secret", old, "k", "v1"])).code).toBe(0);
    await using w = spawnClip(["kv", "watch", "k", "--server", `unix:${s.socket}`], { env: { CLIP_GROUP: "app", CLIP_SECRET: old } });
    await watchersOf(s, "app/k");
    const rot = await s.run(["group", "rotate", "app"]);
    expect(rot.code).toBe(0);
    const fresh = rot.text.trim();
    expect(fresh).not.toBe(old);
    expect(await w.exited()).toBe(4);
    expect(w.stderr()).toMatch(/^clip: the secret of group "app" was rotated.*\n$/);
    const r = await s.run(["kv", "get", "-g", "app", "--secret", old, "k"]);
    expect(r.code).toBe(4);
    const ok = await s.run(["kv", "get", "-g", "app", "--secret", fresh, "k"]);
    expect(ok.code).toBe(0);
    expect(ok.text).toBe("v1");
  });

  test("groups - delete removes the keys and disconnects a running watch with 'group deleted' (exit 4)", async () => {
    await using s = await startServer({ memory: true });
    const S = await createGroup(s, "app");
    const S2 = await createGroup(s, "keep");
    for (const k of ["a", "b", "c/d"]) expect((await s.run(["kv", "put", "-g", "app", "--secret", S, k, k])).code).toBe(0);
    expect((await s.run(["kv", "put", "-g", "keep", "--secret", S2, "a", "kept"])).code).toBe(0);
    await using w = spawnClip(["kv", "watch", "-g", "app", "a", "--server", `unix:${s.socket}`], { env: { CLIP_SECRET: S } });
    const lib = await connect(`unix:${s.socket}`);
    const kv = await lib.kv({ group: "app", secret: S });
    const libWatch = kv.watch("b");
    await libWatch.ready;
    // The shell's background watch: its line says the same words.
    await using sh = spawnClip(["shell", "-g", "app", "--server", `unix:${s.socket}`], { stdin: "pipe", env: { CLIP_SECRET: S } });
    const shIn = sh.proc.stdin as import("bun").FileSink;
    shIn.write("kv watch c/d\n");
    shIn.flush();
    await watchersOf(s, "app/a");
    await watchersOf(s, "app/c/d");

    expect((await s.run(["group", "delete", "app"])).code).toBe(0);
    expect(await w.exited()).toBe(4);
    // Exactly SPEC's words, which scripts match.
    expect(w.stderr()).toBe("clip: group deleted\n");
    expect(w.text()).toBe(""); // no half-applied "del" events reported before the error
    await expect(libWatch.next()).rejects.toMatchObject({ code: "GROUP_DELETED", message: "group deleted" });
    lib.close();
    await waitFor(() => /ended/.test(sh.stderr()), 10_000, "the shell's watch to end");
    expect(sh.stderr()).toMatch(/^clip: \[1\] kv watch c\/d ended: group deleted$/m);
    shIn.end();
    await sh.exited();

    expect((await s.run(["kv", "get", "-g", "app", "--secret", S, "a"])).code).toBe(4);
    expect((await s.run(["group", "info", "app"])).code).toBe(5);
    // Recreated, it starts empty; the other group is untouched.
    const S3 = await createGroup(s, "app");
    const list = await s.run(["kv", "list", "-g", "app", "--secret", S3, "--json"]);
    expect(JSON.parse(list.text)).toEqual([]);
    expect((await s.run(["kv", "get", "-g", "keep", "--secret", S2, "a"])).text).toBe("kept");
  });

  test("groups - admin commands over TCP need the cluster token; kv over TCP works with it", async () => {
    using d = tempDir();
    const tokenFile = join(String(d), "token");
    writeFileSync(tokenFile, "sesame-0123456789\n");
    await using s = await startServer({ memory: true, args: ["--listen", "tcp:127.0.0.1:0", "--token-file", tokenFile] });
    const tcp = tcpAddressOf(s);
    const S = await createGroup(s, "app");
    // s.run() adds --server unix:...; over TCP the address must be the last --server, so call clip() directly.
    const without = await clip(["group", "list", "--server", tcp], { env: { CLIP_TOKEN: "" } });
    expect(without.code).toBe(4);
    expect((await clip(["apps", "--server", tcp], { env: { CLIP_TOKEN: "wrong" } })).code).toBe(4);
    const withTok = await clip(["group", "list", "--json", "--server", tcp, "--token-file", tokenFile]);
    expect(withTok.code).toBe(0);
    expect(JSON.parse(withTok.text)[0].group).toBe("app");
    expect((await clip(["kv", "put", "-g", "app", "--secret", S, "k", "over tcp", "--server", tcp, "--token-file", tokenFile])).code).toBe(0);
    expect((await s.run(["kv", "get", "-g", "app", "--secret", S, "k"])).text).toBe("over tcp");
  });

  test("groups - an --insecure TCP listener grants admin (the operator chose to trust it); the library's admin calls", async () => {
    await using s = await startServer({ memory: true, args: ["--listen", "tcp:127.0.0.1:0", "--insecure"] });
    const c = await connect(tcpAddressOf(s));
    try {
      const secret = await c.groups.create("lib");
      expect(secret.length).toBeGreaterThanOrEqual(22);
      expect((await c.groups.list()).map((g) => g.group)).toEqual(["lib"]);
      const kv = await c.kv({ group: "lib", secret });
      await kv.put("x", new Uint8Array([0, 1, 2]));
      expect(await c.groups.info("lib")).toMatchObject({ group: "lib", keys: 1, apps: 1 });
      const w = kv.watch("x");
      await w.ready;
      // The connection that rotates gets its answer; it loses the group (and its watches in it).
      const fresh = await c.groups.rotate("lib");
      expect(fresh).not.toBe(secret);
      await expect(w.next()).rejects.toMatchObject({ code: "AUTH" });
      await expect(kv.get("x")).rejects.toMatchObject({ code: "AUTH" });
      expect((await c.groups.list()).length).toBe(1);
    } finally {
      c.close();
    }
    const c2 = await connect(tcpAddressOf(s));
    try {
      const fresh = (await c2.groups.rotate("lib"));
      const kv = await c2.kv({ group: "lib", secret: fresh });
      expect([...(await kv.get("x"))]).toEqual([0, 1, 2]);
      expect((await c2.groups.delete("lib")).keys).toBe(1);
      await expect(c2.groups.info("lib")).rejects.toMatchObject({ code: "NOTFOUND" });
    } finally {
      c2.close();
    }
  });

  test("apps - lists connected applications (pid, kind, group, since, watches) and those that left", async () => {
    await using s = await startServer({ memory: true });
    const S = await createGroup(s, "app");
    await using w = spawnClip(["kv", "watch", "-g", "app", "--secret", S, "color", "--server", `unix:${s.socket}`]);
    await watchersOf(s, "app/color");
    const lib = await connect({ server: `unix:${s.socket}`, name: "tester" });
    await lib.kv({ group: "app", secret: S });

    const r = await s.run(["apps", "--json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.text);
    const watcher = report.apps.find((a: { pid: number }) => a.pid === w.proc.pid);
    expect(watcher).toMatchObject({ kind: "cli", groups: ["app"], watches: ["app/color"] });
    expect(Math.abs(watcher.since - Date.now())).toBeLessThan(60_000);
    expect(typeof watcher.duration).toBe("number");
    const me = report.apps.find((a: { kind: string }) => a.kind === "lib");
    expect(me).toMatchObject({ pid: process.pid, name: "tester", groups: ["app"] });
    const table = await s.run(["apps"]);
    expect(table.text).toMatch(/^PID\s+KIND\s+GROUP\s+SINCE\s+FOR\s+WATCHES/);
    expect(table.text).toContain(String(w.proc.pid));

    w.proc.kill("SIGINT");
    await w.exited();
    lib.close();
    const after = await waitFor(async () => {
      const rep = JSON.parse((await s.run(["apps", "--json"])).text);
      return rep.left.find((a: { pid: number }) => a.pid === w.proc.pid) ? rep : null;
    }, 10_000, "the watcher in the departures");
    const gone = after.left.find((a: { pid: number }) => a.pid === w.proc.pid);
    expect(gone).toMatchObject({ kind: "cli", groups: ["app"], watches: ["app/color"] });
    expect(gone.left).toBeGreaterThanOrEqual(gone.since);
    expect(after.apps.find((a: { pid: number }) => a.pid === w.proc.pid)).toBeUndefined();
    expect((await s.run(["apps"])).text).toContain("left in the last hour");
  });

  test("groups - groups and keys survive kill -9 and a restart on the same --data", async () => {
    using d = tempDir();
    const data = join(String(d), "data");
    let S: string;
    {
      await using s = await startServer({ data });
      S = await createGroup(s, "app");
      expect((await s.run(["kv", "put", "-g", "app", "--secret", S, "k", "persisted"])).code).toBe(0);
      expect((await s.run(["kv", "put", "-g", "app", "--secret", S, "gone", "x"])).code).toBe(0);
      expect((await s.run(["kv", "del", "-g", "app", "--secret", S, "gone"])).code).toBe(0);
      await createGroup(s, "dropped");
      expect((await s.run(["group", "delete", "dropped"])).code).toBe(0);
      await s.stop("SIGKILL");
    }
    await using s2 = await startServer({ data });
    expect((await s2.run(["kv", "get", "-g", "app", "--secret", S, "k"])).text).toBe("persisted");
    expect((await s2.run(["kv", "get", "-g", "app", "--secret", S, "gone"])).code).toBe(5);
    expect(JSON.parse((await s2.run(["group", "list", "--json"])).text).map((g: { group: string }) => g.group)).toEqual(["app"]);
    expect((await s2.run(["kv", "get", "-g", "app", "--secret", "wrong", "k"])).code).toBe(4);
  });

  test("groups - the registry reaches every server of the tree; a child cut off from the root still authenticates", async () => {
    using d = tempDir();
    const tokenFile = join(String(d), "token");
    writeFileSync(tokenFile, "tree-token-0123456789\n");
    await using root = await startServer({ memory: true, name: "root", args: ["--listen", "tcp:127.0.0.1:0", "--token-file", tokenFile] });
    await using child = await startServer({ memory: true, name: "child", args: ["--connect", tcpAddressOf(root), "--token-file", tokenFile] });
    const S = await createGroup(root, "app");
    const env = { CLIP_GROUP: "app", CLIP_SECRET: S };
    await waitFor(async () => (await child.run(["kv", "put", "k", "from child"], { env })).code === 0, 10_000, "the group on the child");
    await waitFor(async () => (await root.run(["kv", "get", "k"], { env })).text === "from child", 10_000, "the key on the root");
    // Rotation made at the root closes the child's sessions on the old secret.
    await using w = spawnClip(["kv", "watch", "k", "--server", `unix:${child.socket}`], { env });
    await watchersOf(child, "app/k");
    const fresh = (await root.run(["group", "rotate", "app"])).text.trim();
    expect(await w.exited()).toBe(4);
    await root.stop("SIGKILL");
    const env2 = { CLIP_GROUP: "app", CLIP_SECRET: fresh };
    await waitFor(async () => (await child.run(["kv", "get", "k"], { env: env2 })).text === "from child", 10_000, "the child serving alone");
    expect((await child.run(["kv", "get", "k"], { env })).code).toBe(4);
    expect((await child.run(["kv", "put", "k", "alone"], { env: env2 })).code).toBe(0);
    expect((await child.run(["kv", "get", "k"], { env: env2 })).text).toBe("alone");
  });

  test("groups - a server shutting down tells its watching applications (exit 3)", async () => {
    await using s = await startServer({ memory: true });
    const S = await createGroup(s, "app");
    await using w = spawnClip(["kv", "watch", "-g", "app", "--secret", S, "k", "--server", `unix:${s.socket}`]);
    await watchersOf(s, "app/k");
    expect(await s.stop("SIGTERM")).toBe(0);
    expect(await w.exited()).toBe(3);
    expect(w.stderr()).toMatch(/^(clip: warning: --secret .*\n)?clip: the server is shutting down.*\n$/);
  });
});
