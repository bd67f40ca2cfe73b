// Values through HTTP bodies, both ways, streamed.
//
// In: a PUT's body goes chunk by chunk into a Stage (server/values.ts) as
// it is read from the socket, and the write is submitted at once, as the
// socket's copy does: a server with a parent starts passing the value up
// while it arrives. The stage is written synchronously (memory, or a file
// past 64 KiB), so the next chunk is read only once this one is stored:
// the client sees TCP backpressure, and a 1 GiB PUT holds a chunk or two in
// memory. A body cut short (the client went) aborts the stage: nothing is
// stored anywhere.
//
// Out: a value in memory is answered as bytes; a value in a file is
// answered as the file (Bun sends it with sendfile, Content-Length from its
// size, backpressure in the kernel; a reader that stops reading is cut by
// Bun's idle timeout). Bun opens the file after the handler returns, once
// this turn's microtasks have run (measured); a newer write may release
// the file in one of those microtasks, so the value is held for a while
// first: long enough for Bun to have opened it, after which an unlink no
// longer matters (the open descriptor keeps the bytes). Bun drops a
// Content-Length given with a streamed body (it sends chunked), so the file
// answer is also what gives SPEC's Content-Length.

import { ClipError, asClipError } from "../protocol/errors.ts";
import { typeOf } from "../server/describe.ts";
import { submitValue } from "../server/handlers/clipboard.ts";
import type { Entry } from "../server/store.ts";
import { Upload } from "../server/upload.ts";
import { markedSealed } from "../server/values.ts";
import type { Door, Exchange } from "./door.ts";
import { checkBodySize } from "./limits.ts";
import { VALUE_HEADERS } from "./page.ts";

/** The type a sealed value is served as: its bytes are ciphertext, whatever it holds. */
export const SEALED_TYPE = "application/x-clip-sealed";

/** Bodies up to this size (announced) are read whole: Bun has them in one buffer already. */
const SMALL_BODY = 64 << 10;

/** How long a value file answered by GET stays held: far longer than Bun takes to open it. */
const FILE_HOLD_MS = 10_000;

/**
 * The value's type from a PUT's Content-Type: kept as given, except that a
 * missing one or application/x-www-form-urlencoded (what curl -T and
 * --data-binary send whatever the bytes are) means "recognise it".
 */
/**
 * The key id a PUT says its body is sealed with (`X-Clip-Key-Id`, as a GET of
 * a sealed value names it): the value is then marked sealed, as `clip copy
 * --encrypt` marks it, so that it is shown encrypted and never previewed.
 * The writer's word, as on the socket (checkWriteMeta checks its form).
 */
export function writtenSealed(req: Request): string | undefined {
  const id = req.headers.get("x-clip-key-id");
  if (id === null) return undefined;
  if (!/^[0-9a-f]{16}$/.test(id.trim())) throw new ClipError("USAGE", `bad X-Clip-Key-Id ${JSON.stringify(id.slice(0, 40))}: the id of the key the body is sealed with, 16 hex digits (as a GET of a sealed value names it)`);
  return id.trim();
}

export function writtenType(req: Request): string | undefined {
  const ct = req.headers.get("content-type");
  if (ct === null || ct.trim() === "") return undefined;
  if (/^application\/x-www-form-urlencoded\s*(;.*)?$/i.test(ct.trim())) return undefined;
  return ct;
}

/**
 * Stores a request's body at `key` through the server core (as copy and
 * kv.put do), reading it as it arrives. `meta` was checked (checkWriteMeta).
 * Resolves with the write's revision and size once applied here.
 */
export async function receiveValue(door: Door, x: Exchange, key: string, meta: Record<string, unknown>, before?: () => void): Promise<{ rev: number; size: number }> {
  const { node } = door;
  checkBodySize(x.req, node.store.maxSize);
  const declared = x.req.headers.get("content-length");
  // Refuses a declared size over --max-size before a byte is stored.
  const stage = node.stage(declared === null ? undefined : Number(declared), { sealed: markedSealed(meta) });
  const upload = new Upload(stage, (v) => node.release(v));
  let applied: Promise<number>;
  try {
    before?.();
    applied = submitValue(node, key, upload, meta);
  } catch (e) {
    upload.fail(asClipError(e));
    throw e;
  }
  // A write refused while its value streams in (shutdown, a lost parent) stops the reading.
  applied.catch((e) => upload.fail(asClipError(e)));
  try {
    if (declared !== null && Number(declared) <= SMALL_BODY) {
      // Small and announced (most writes): read in one go, without a stream per request.
      const bytes = await x.req.bytes();
      door.metrics.received.inc(bytes.length);
      if (stage.state === "open" && bytes.length > 0) stage.write(bytes);
    } else if (x.req.body) {
      for await (const chunk of x.req.body as unknown as AsyncIterable<Uint8Array>) {
        if (stage.state !== "open") break;
        door.metrics.received.inc(chunk.length);
        stage.write(chunk);
      }
    }
    // A chunked body whose client went may end without an error: the request's signal says so.
    if (x.req.signal.aborted) throw new ClipError("LOST", "the client went away before its value arrived whole");
    if (stage.state === "open") upload.finish();
    if (stage.state !== "committed") throw stage.error ?? new ClipError("LOST", "the value was not stored");
  } catch (e) {
    const err = e instanceof ClipError ? e : new ClipError("LOST", "the client went away before its value arrived whole");
    upload.fail(err);
    await applied.catch(() => {});
    upload.settle();
    throw err;
  }
  try {
    return { rev: await applied, size: stage.size };
  } finally {
    upload.settle();
  }
}

/** Headers by value type, made once: a Response copies a Headers natively, far cheaper than from an object. */
const headersByType = new Map<string, Headers>();

/** The headers every answer holding a value carries: type, revision, no caching, not runnable as a page. */
function valueHeaders(door: Door, e: Entry): Headers {
  const sealed = typeof e.meta.sealed === "string";
  const type = sealed ? SEALED_TYPE : typeOf(door.node.store, e) || "application/octet-stream";
  let base = headersByType.get(type);
  if (base === undefined) {
    // Types are the writers' to choose: the cache is bounded.
    if (headersByType.size >= 256) headersByType.clear();
    headersByType.set(type, (base = new Headers({ ...VALUE_HEADERS, "Content-Type": type })));
  }
  const h = new Headers(base);
  h.set("ETag", `"${e.rev}"`);
  if (sealed) h.set("X-Clip-Key-Id", e.meta.sealed as string);
  return h;
}

/**
 * The answer holding an entry's value: 204 when it is empty, the bytes (or
 * the file) otherwise, Content-Length its size. `head` answers the headers
 * alone.
 */
export function valueResponse(door: Door, e: Entry, head: boolean, status = 200): Response {
  const headers = valueHeaders(door, e);
  const v = e.value;
  if (!v || v.size === 0) return new Response(null, { status: 204, headers });
  if (head) {
    headers.set("Content-Length", String(v.size));
    return new Response(null, { status, headers });
  }
  door.metrics.sent.inc(v.size);
  if (v.bytes) return new Response(v.bytes.subarray(0, v.size), { status, headers });
  const values = door.node.store.values;
  values.hold(v);
  setTimeout(() => values.release(v), FILE_HOLD_MS).unref?.();
  // Bun names a file answer after the file (Content-Disposition): a value's file name is nobody's business.
  headers.set("Content-Disposition", "inline");
  return new Response(Bun.file(v.file!), { status, headers });
}
