// The sequencer of a server with a parent (src/tree/sequencer.ts): a write
// goes up while its value still arrives, is kept pending, and is applied
// from what we staged when the root's order brings it back held; a write
// that lost comes back without a value and what we staged is let go; a
// link lost after the root ordered a write applies it here. Driven by a
// fake parent (a Mux that only takes uploads) and by servers joined in
// process over in-memory links.

import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import type { Mux } from "../../src/client/mux.ts";
import { ClipError } from "../../src/protocol/errors.ts";
import type { WriteOp } from "../../src/server/state.ts";
import { Upload } from "../../src/server/upload.ts";
import type { Stage } from "../../src/server/values.ts";
import { TreeSequencer } from "../../src/tree/sequencer.ts";
import { collect } from "../../src/value/sink.ts";
import type { ValueSource } from "../../src/value/source.ts";
import { randomBytes, sameBytes } from "../helpers/clip.ts";
import { type MemoryServer, memoryServer, stopAll, until } from "../helpers/memory.ts";

const dirs: string[] = [];
afterEach(() => {
  stopAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempData(): string {
  const d = mkdtempSync("/tmp/seq-");
  dirs.push(d);
  return d;
}

/** A stream the test feeds by hand: what a slow writer looks like to the library. */
function feeder() {
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (ctl = c) });
  return { stream, push: (b: Uint8Array) => ctl.enqueue(b), end: () => ctl.close(), fail: () => ctl.error(new Error("writer gone")) };
}

/** Every stage the node opens (the values arriving at it), so a test can watch one fill. */
function watchStages(s: MemoryServer): Stage[] {
  const stages: Stage[] = [];
  const open = s.node.stage.bind(s.node);
  s.node.stage = (expected?: number) => {
    const st = open(expected);
    stages.push(st);
    return st;
  };
  return stages;
}

const pendingCount = (seqr: TreeSequencer) => (seqr as unknown as { pending: Map<string, unknown> }).pending.size;

async function joined(...servers: MemoryServer[]): Promise<void> {
  await until(() => servers.every((s) => s.tree!.up.state === "synced"), 5000, "the children to join");
}

describe("sequencer - in a tree joined in process", () => {
  test("sequencer - a write goes up while its value arrives, and is applied here when it comes back held", async () => {
    const root = memoryServer({ name: "root", token: "t", tree: true });
    const child = memoryServer({ name: "child", token: "t", parents: [root] });
    await joined(child);
    const rootStages = watchStages(root);
    const c = await child.client();
    const w = feeder();
    const value = randomBytes(2 << 20, 3);
    const half = 1 << 20;
    let done = false;
    const copying = c.copy(5, w.stream).then((r) => ((done = true), r));
    w.push(value.subarray(0, half));
    // The root is staging it before the writer has finished: cut-through.
    await until(() => rootStages.some((s) => s.state === "open" && s.size >= half), 5000, "the root to stage the first half");
    expect(done).toBe(false);
    expect(pendingCount(child.tree!.seqr)).toBe(1);
    // Applied nowhere until whole.
    expect(root.node.store.get("r/5")).toBeUndefined();
    expect(child.node.store.get("r/5")).toBeUndefined();
    w.push(value.subarray(half));
    w.end();
    const r = await copying;
    // When copy returns, the write is applied on the server it was made on.
    expect(sameBytes(await c.paste(5), value)).toBe(true);
    expect(child.node.store.get("r/5")?.rev).toBe(r.rev);
    expect(root.node.store.get("r/5")?.rev).toBe(r.rev);
    expect(sameBytes(await (await root.client()).paste(5), value)).toBe(true);
    // It came back held: none of its bytes came down again, and nothing is left pending.
    expect(child.tree!.up.bytesDown).toBe(0);
    expect(pendingCount(child.tree!.seqr)).toBe(0);
  });

  test("sequencer - a write that lost at the root comes back without its value, and what we staged is let go", async () => {
    const root = memoryServer({ name: "root", token: "t", tree: true });
    const data = tempData();
    const child = memoryServer({ name: "child", token: "t", parents: [root], dataDir: data });
    await joined(child);
    const c = await child.client();
    const w = feeder();
    const copying = c.copy(5, w.stream);
    w.push(randomBytes(1 << 20, 4)); // a whole frame: the client sends when one is full
    const blobs = `${data}/blobs`;
    await until(() => readdirSync(blobs).some((f) => f.endsWith(".part")), 5000, "the child to stage the value in a file");
    // Meanwhile a newer write to the region is made at the root.
    await Bun.sleep(3);
    const rc = await root.client();
    await rc.copy(5, "the root's, newer");
    w.push(randomBytes(1 << 20, 5));
    w.end();
    const r = await copying;
    // Counted (it took a revision) but changed nothing: the newer write stands everywhere.
    expect(r.rev).toBe(root.node.store.rev);
    expect(new TextDecoder().decode(await c.paste(5))).toBe("the root's, newer");
    expect(child.node.store.rev).toBe(root.node.store.rev);
    expect(child.tree!.up.bytesDown).toBe("the root's, newer".length);
    expect(pendingCount(child.tree!.seqr)).toBe(0);
    // The staged 2 MiB are let go: its file is removed.
    await until(() => readdirSync(blobs).length === 0, 5000, `the lost write's file to go (left: ${readdirSync(blobs)})`);
  });

  test("sequencer - a lost write that comes back behind a large value (through the join stream's loop) is let go too", async () => {
    const root = memoryServer({ name: "root", token: "t", tree: true });
    const data = tempData();
    const child = memoryServer({ name: "child", token: "t", parents: [root], dataDir: data });
    await joined(child);
    const c = await child.client();
    const w = feeder();
    const copying = c.copy(5, w.stream);
    w.push(randomBytes(1 << 20, 7));
    const blobs = `${data}/blobs`;
    await until(() => readdirSync(blobs).some((f) => f.endsWith(".part")), 5000, "the child to stage the value in a file");
    // The child stops reading its parent: what the root relays now arrives all at once later.
    child.pauseParentLinks();
    await Bun.sleep(3);
    const rc = await root.client();
    await rc.copy(5, "the root's, newer");
    const big = randomBytes(3 << 20, 8);
    await rc.copy(6, big);
    w.push(randomBytes(1 << 20, 9));
    w.end();
    await until(() => root.node.store.rev === 3, 5000, "the root to order the child's write");
    child.resumeParentLinks();
    const r = await copying;
    expect(r.rev).toBe(3);
    expect(new TextDecoder().decode(await c.paste(5))).toBe("the root's, newer");
    expect(sameBytes(await c.paste(6), big)).toBe(true);
    expect(pendingCount(child.tree!.seqr)).toBe(0);
    // Only the region 6 value is left in blobs/: the lost write's file is gone.
    const size6 = child.node.store.get("r/6")!.value!;
    await until(() => readdirSync(blobs).length === 1, 5000, `the lost write's file to go (left: ${readdirSync(blobs)})`);
    expect(`${blobs}/${readdirSync(blobs)[0]}`).toBe(size6.file!);
  });

  test("sequencer - a writer that vanishes half-way leaves nothing on the child or the root", async () => {
    const root = memoryServer({ name: "root", token: "t", tree: true });
    const data = tempData();
    const child = memoryServer({ name: "child", token: "t", parents: [root], dataDir: data });
    await joined(child);
    const rootStages = watchStages(root);
    // How often the write is taken: once (a value that failed is not a link that failed, to be retried).
    const seqr = child.tree!.seqr;
    const submit = seqr.submit.bind(seqr);
    let submits = 0;
    seqr.submit = (w) => (submits++, submit(w));
    const c = await child.client();
    const w = feeder();
    const copying = c.copy(2, w.stream).catch((e) => e);
    w.push(randomBytes(1 << 20, 6));
    await until(() => rootStages.some((s) => s.size >= 1 << 20), 5000, "the root to stage it");
    c.close(); // the writer is gone
    expect(await copying).toBeInstanceOf(ClipError);
    await until(() => rootStages.every((s) => s.state === "aborted"), 5000, "the root's stage to be dropped");
    await until(() => pendingCount(child.tree!.seqr) === 0, 5000, "the child's pending write to go");
    await until(() => readdirSync(`${data}/blobs`).length === 0, 5000, "the child's staged file to go");
    expect(root.node.store.get("r/2")).toBeUndefined();
    expect(child.node.store.get("r/2")).toBeUndefined();
    expect(root.node.store.rev).toBe(0);
    expect(child.node.store.rev).toBe(0);
    expect(submits).toBe(1);
  });
});

/** A parent that only takes uploads: each is read to its end, then answered as the test says. */
class FakeParent {
  closed = false;
  readonly received: { op: string; meta: Record<string, unknown>; bytes: Uint8Array }[] = [];
  /** Bytes read so far of the upload in progress. */
  reading = 0;
  constructor(private readonly answer: (meta: Record<string, unknown>) => Promise<Record<string, unknown>>) {}

  async upload(op: string, meta: Record<string, unknown>, source: ValueSource): Promise<Record<string, unknown>> {
    const parts: Uint8Array[] = [];
    this.reading = 0;
    try {
      for (;;) {
        const buf = new Uint8Array(64 << 10);
        let n = source.read(buf);
        if (typeof n !== "number") n = await n;
        if (n === 0) break;
        parts.push(buf.subarray(0, n));
        this.reading += n;
      }
    } finally {
      source.close();
    }
    this.received.push({ op, meta, bytes: await collect((async function* () { yield* parts; })()) });
    return this.answer(meta);
  }
}

/** A node whose sequencer is a TreeSequencer with `parent` above it (no tree attached). */
function childOf(parent: FakeParent, dataDir: string | null = null) {
  const s = memoryServer({ name: "lone", dataDir });
  const seqr = new TreeSequencer(s.node);
  s.node.sequencer = seqr;
  seqr.goUp(parent as unknown as Mux);
  const write = (key: string) => {
    const upload = new Upload(s.node.stage(), (v) => s.node.release(v));
    const op: WriteOp = { key, ver: s.node.clock.now(), meta: { at: Date.now(), by: "lone" }, value: null };
    return { op, upload, submitted: s.node.submit({ op, upload }) };
  };
  return { s, seqr, write };
}

describe("sequencer - with a fake parent", () => {
  test("sequencer - the value is passed up as it arrives, and the write waits for its return", async () => {
    let answer!: (r: Record<string, unknown>) => void;
    const parent = new FakeParent(() => new Promise((res) => (answer = res)));
    const { s, seqr, write } = childOf(parent);
    const w = write("r/1");
    let settled = false;
    w.submitted.then(() => (settled = true));
    w.upload.stage.write(new Uint8Array(1000).fill(7));
    await until(() => parent.reading === 1000, 2000, "the parent to read the first bytes");
    expect(seqr.peekPending(w.op.ver)).not.toBeNull();
    w.upload.stage.write(new Uint8Array(24).fill(8));
    w.upload.finish();
    await until(() => answer !== undefined, 2000, "the upload to end");
    expect(parent.received[0].bytes.length).toBe(1024);
    expect(parent.received[0].op).toBe("tree.forward");
    answer({ rev: 9 });
    await Bun.sleep(5);
    // Ordered at the root, but not back here yet: not applied, not answered.
    expect(settled).toBe(false);
    expect(s.node.store.get("r/1")).toBeUndefined();
    // It comes back held: what the upstream does with it (takes our staged value, applies it).
    const p = seqr.takePending(w.op.ver)!;
    expect(p.ordered).toBe(true);
    s.node.applyOrdered({ ...w.op, value: await p.value }, 9);
    expect(await w.submitted).toBe(9);
    expect(s.node.store.get("r/1")?.value?.size).toBe(1024);
  });

  test("sequencer - goRoot applies a write the root ordered whose return was lost with the link", async () => {
    const parent = new FakeParent(async () => ({ rev: 42 }));
    const { s, seqr, write } = childOf(parent);
    const w = write("r/3");
    w.upload.stage.write(new TextEncoder().encode("ordered, never came back"));
    w.upload.finish();
    await until(() => seqr.peekPending(w.op.ver)?.ordered === true, 2000, "the root's answer");
    expect(s.node.store.get("r/3")).toBeUndefined();
    // The link drops before the write comes back down: we are the root now.
    parent.closed = true;
    seqr.goRoot();
    expect(await w.submitted).toBe(42);
    expect(new TextDecoder().decode(s.node.store.get("r/3")!.value!.bytes!)).toBe("ordered, never came back");
    expect(s.node.store.rev).toBe(1);
    expect(seqr.peekPending(w.op.ver)).toBeNull();
    expect(seqr.isChild).toBe(false);
  });

  test("sequencer - goRoot does not apply again a write that came back already, and releases what it staged", async () => {
    const data = tempData();
    const parent = new FakeParent(async () => ({ rev: 1 }));
    const { s, seqr, write } = childOf(parent, data);
    const w = write("r/3");
    w.upload.stage.write(randomBytes(100_000, 1));
    w.upload.finish();
    await until(() => seqr.peekPending(w.op.ver)?.ordered === true, 2000, "the root's answer");
    // The same write, newer already here (applied from another path): the pending copy is surplus.
    s.node.applyOrdered({ ...w.op, ver: { t: w.op.ver.t + 1, n: w.op.ver.n }, value: { size: 1, bytes: new Uint8Array([1]) } }, 1);
    expect(await w.submitted).toBe(1);
    seqr.goRoot();
    await until(() => readdirSync(`${data}/blobs`).length === 0, 2000, "the staged file to go");
    expect(s.node.store.rev).toBe(1);
    expect(s.node.store.get("r/3")?.value?.size).toBe(1);
  });

  test("sequencer - a link lost before the root answered: the write is applied here, as the root we now are", async () => {
    let fail!: (e: unknown) => void;
    const parent = new FakeParent(() => new Promise((_, rej) => (fail = rej)));
    const { s, seqr, write } = childOf(parent);
    const w = write("r/4");
    w.upload.stage.write(new TextEncoder().encode("in flight"));
    w.upload.finish();
    await until(() => fail !== undefined, 2000, "the upload to end");
    parent.closed = true;
    fail(new ClipError("LOST", "connection lost"));
    seqr.goRoot();
    expect(await w.submitted).toBe(1);
    expect(new TextDecoder().decode(s.node.store.get("r/4")!.value!.bytes!)).toBe("in flight");
    expect(seqr.peekPending(w.op.ver)).toBeNull();
  });

  test("sequencer - a refusal from the root reaches the writer, and the staged value is let go", async () => {
    const data = tempData();
    const parent = new FakeParent(async () => {
      throw new ClipError("CONDITION", "region 4 is at revision 3, not 2");
    });
    const { s, seqr, write } = childOf(parent, data);
    const w = write("r/4");
    w.upload.stage.write(randomBytes(100_000, 2));
    w.upload.finish();
    const err = await w.submitted.catch((e) => e);
    expect(err).toBeInstanceOf(ClipError);
    expect((err as ClipError).code).toBe("CONDITION");
    expect(seqr.peekPending(w.op.ver)).toBeNull();
    expect(s.node.store.get("r/4")).toBeUndefined();
    await until(() => existsSync(`${data}/blobs`) && readdirSync(`${data}/blobs`).length === 0, 2000, "the staged file to go");
  });
});
