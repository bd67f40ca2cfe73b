// A server relays its parent's write to its children as it arrives and
// applies it once whole, so while a large value is on its way its own store
// is a revision behind what its children were sent. Its heartbeat must not
// say that older revision: a child that applied the write before the beat
// came would see its parent go back in time and split from it.

import { expect, test } from "bun:test";
import { join } from "node:path";
import { randomBytes, sameBytes, waitFor } from "../helpers/clip.ts";
import { TreeFixture } from "../helpers/tree.ts";

test("tree - a beat sent while a relayed value is still arriving does not split the child", async () => {
  await using t = new TreeFixture();
  const r = await t.add({ name: "R" });
  const c = await t.add({ name: "C", connect: ["R"] });
  const g = await t.add({ name: "G", connect: ["C"] });
  const file = join(String(t.dir), "big");
  const big = randomBytes(48 << 20, 3);
  await Bun.write(file, big);
  // C stopped: R's relay of the write fills the socket between them and stalls.
  process.kill(c.pid, "SIGSTOP");
  try {
    expect((await r.run(["copy", "0", file])).code).toBe(0);
  } finally {
    process.kill(c.pid, "SIGCONT");
  }
  // C reads what the kernel holds (the write's head, a few MiB), relays the write on to G,
  // and starves: R is stopped for longer than a beat interval (1 s), so C beats meanwhile.
  process.kill(r.pid, "SIGSTOP");
  try {
    await waitFor(async () => Number((await g.status()).bytesFromParent) > 0, 10_000, "G to receive the first bytes");
    await Bun.sleep(1500); // the fault: R stays stopped across C's heartbeat
  } finally {
    process.kill(r.pid, "SIGCONT");
  }
  await waitFor(async () => sameBytes(await (await g.client()).paste(0), big), 30_000, "the value on G");
  // The beat that followed must not have been older than the write G applied.
  await waitFor(async () => (await g.status()).rev === (await r.status()).rev, 10_000, "G at R's revision");
  expect(g.stderr()).not.toMatch(/parent lost|impossible sequence/);
  expect(c.stderr()).not.toMatch(/child dropped|child left/);
  expect((await g.status()).upstream).toBe("synced");
});
