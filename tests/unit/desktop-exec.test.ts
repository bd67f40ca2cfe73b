// Reading a clipboard program's output whole or not at all: what stands
// between a half-read clipboard and a write to R.

import { expect, test } from "bun:test";
import { ProgramMissing, run } from "../../src/desktop/exec.ts";

test("desktop exec - output counts only when the program exits 0; killed, failed, too big or too slow is not a read", async () => {
  const ok = await run(["sh", "-c", "printf 'all of it'"]);
  expect(ok).toMatchObject({ ok: true, out: new TextEncoder().encode("all of it"), size: 9 });
  expect(await run(["sh", "-c", "printf 'all of it'"], { keep: false })).toEqual({ ok: true, out: new Uint8Array(0), size: 9, digest: new Bun.CryptoHasher("sha256").update("all of it").digest("hex") });
  // The owner went away half-way: bytes came, then the program died.
  expect(await run(["sh", "-c", "printf half; kill -9 $$"])).toMatchObject({ ok: false, why: "failed" });
  expect(await run(["sh", "-c", "printf half; echo 'Error: target image/png not available' >&2; exit 1"])).toEqual({ ok: false, why: "failed", detail: "Error: target image/png not available" });
  expect(await run(["sh", "-c", "head -c 100000 /dev/zero"], { max: 1000 })).toMatchObject({ ok: false, why: "toobig" });
  expect(await run(["sh", "-c", "head -c 1000 /dev/zero"], { max: 1000 })).toMatchObject({ ok: true });
  const slow = await run(["sh", "-c", "printf x; sleep 5"], { timeoutMs: 200 });
  expect(slow).toEqual({ ok: false, why: "failed", detail: "sh timed out" });
  expect(() => run(["no-such-clipboard-program"])).toThrow(ProgramMissing);
});

test("desktop exec - a program that forks a server (wl-copy, xsel) is waited for by its exit status alone", async () => {
  const t0 = Date.now();
  // The child keeps our pipes open for 5 s: reading them would wait that long.
  const r = await run(["sh", "-c", "(sleep 5 &) ; exit 0"], { detach: true });
  expect(r.ok).toBe(true);
  expect(Date.now() - t0).toBeLessThan(3000);
  expect(await run(["sh", "-c", "exit 4"], { detach: true })).toEqual({ ok: false, why: "failed", detail: "sh exited 4" });
});
