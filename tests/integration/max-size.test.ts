// Over --max-size, the error names the value's own size when its sender
// announced it (a file, stdin redirected from a file, an HTTP body with
// Content-Length), and says only what arrived when the size was not known
// (a pipe), instead of passing the bytes received so far off as its size.

import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, randomBytes, startServer, tempDir } from "../helpers/clip.ts";
import { startHttpServer } from "../helpers/http.ts";

const SIZE = 2_000_000;
const LIMIT = "--max-size of 1048576 bytes";

describe("max-size", () => {
  test("max-size - a file, stdin from a file, kv put: the error gives the value's size; a pipe: what arrived, not as its size", async () => {
    await using s = await startServer({ args: ["--max-size", "1M"] });
    using d = tempDir();
    const file = join(String(d), "big");
    writeFileSync(file, randomBytes(SIZE, 7));
    const told = `value of ${SIZE} bytes is over the server's ${LIMIT}`;

    const named = await s.run(["copy", "3", file]);
    expect(named.code).toBe(1);
    expect(named.stderr).toBe(`clip: ${told}\n`);
    // stdin redirected from a file: its size is known (fstat), by path or streamed.
    for (const handoff of ["1", "0"]) {
      const redirected = await s.run(["copy", "3"], { stdin: Bun.file(file), env: { CLIP_HANDOFF: handoff } });
      expect(redirected.code).toBe(1);
      expect(redirected.stderr).toBe(`clip: ${told}\n`);
    }
    const secret = (await s.run(["group", "create", "g"])).text.trim();
    const kv = await s.run(["kv", "put", "k"], { stdin: Bun.file(file), env: { CLIP_GROUP: "g", CLIP_SECRET: secret } });
    expect(kv.code).toBe(1);
    expect(kv.stderr).toBe(`clip: ${told}\n`);

    // A pipe (a real one: a byte array given as stdin can arrive as a file): the size is not known; the error says what is.
    const proc = Bun.spawn(["sh", "-c", 'cat "$1" | "$2" copy 3 --server "unix:$3"', "sh", file, BIN, s.socket], { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } });
    const piped = { stderr: await new Response(proc.stderr).text(), code: await proc.exited };
    expect(piped.code).toBe(1);
    expect(piped.stderr).toMatch(new RegExp(`^clip: value is over the server's ${LIMIT}; refused after [0-9]+ bytes \\(its whole size was not announced\\)\\n$`));
    expect(piped.stderr).not.toMatch(/value of [0-9]+ bytes/);
  }, 60_000);

  test("max-size - HTTP PUT with Content-Length: the 413 gives the body's size", async () => {
    await using h = await startHttpServer({ args: ["--max-size", "1M"] });
    const r = await fetch(`${h.url}/v1/regions/3`, { method: "PUT", headers: h.auth, body: randomBytes(SIZE, 9) });
    expect(r.status).toBe(413);
    const body = (await r.json()) as { error: string; message: string };
    expect(body.error).toBe("TOOBIG");
    expect(body.message).toContain(`${SIZE} bytes`);
    expect(body.message).toContain(LIMIT);
  }, 60_000);
});
