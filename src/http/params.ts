// What a request says besides its body: path parts (region, group, key),
// query parameters (?wait, ?since, ?ttl, ?prefix, ?key) and the conditional
// and resume headers (If-Match, If-None-Match, Last-Event-ID). Read strictly:
// anything malformed is a USAGE error (400) naming what was wrong, never
// guessed at or ignored, since a misspelt `?wiat=30` or a weak ETag that
// was silently dropped would turn a conditional or waiting request into a
// plain one.

import { ClipError } from "../protocol/errors.ts";
import { checkGroupName, checkKey, parseDuration, parseRegion } from "../protocol/messages.ts";

const usage = (msg: string) => new ClipError("USAGE", msg);

/** A revision: a non-negative decimal integer, nothing else. */
function revision(raw: string, what: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw usage(`bad ${what} ${JSON.stringify(raw)}: a revision is a non-negative integer`);
  }
  return Number(raw);
}

/** `/v1/regions/R`'s R. */
export function regionParam(raw: string): number {
  return parseRegion(raw);
}

/** A path segment, percent-decoded; a malformed escape is a 400, not a crash. */
export function decodeSegment(raw: string, what: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw usage(`bad ${what}: malformed percent-encoding in ${JSON.stringify(raw)}`);
  }
}

/** `/v1/kv/G/...` and `/v1/groups/G`'s G. */
export function groupParam(raw: string): string {
  return checkGroupName(decodeSegment(raw, "group name"));
}

/**
 * `/v1/kv/G/K`'s K: everything after `G/`, percent-decoded. A `/` inside a
 * key is sent as %2F (SPEC); a bare `/` is taken as part of the key too,
 * since the key is the rest of the path. URL parsers resolve `.` and `..`
 * segments before this sees them: keys that are or contain such segments
 * must send their dots as %2E.
 */
export function keyParam(rawRest: string): string {
  return checkKey(decodeSegment(rawRest, "key"));
}

/**
 * `If-Match: "REV"` on a write is `--if-rev REV`. Only one strong entity tag
 * whose text is a revision: `*`, lists and weak tags (W/"...") are refused,
 * because --if-rev compares one revision.
 */
export function parseIfMatch(header: string | null | undefined): number | undefined {
  if (header === null || header === undefined) return undefined;
  const m = /^"([^"]*)"$/.exec(header.trim());
  if (!m) throw usage(`bad If-Match ${JSON.stringify(header)}: use one revision in quotes, as ETag gives it, e.g. If-Match: "12"`);
  return revision(m[1], "If-Match revision");
}

/**
 * If-None-Match: `*` (on a write: only if empty, `--if-rev 0`) or a list of
 * strong entity tags (on a GET: 304 when the current one is listed).
 */
export function parseIfNoneMatch(header: string | null | undefined): { any: true } | { revs: number[] } | undefined {
  if (header === null || header === undefined) return undefined;
  const h = header.trim();
  if (h === "*") return { any: true };
  const revs: number[] = [];
  for (const part of h.split(",")) {
    const m = /^"([^"]*)"$/.exec(part.trim());
    if (!m) throw usage(`bad If-None-Match ${JSON.stringify(header)}: use * or revisions in quotes, e.g. "12"`);
    revs.push(revision(m[1], "If-None-Match revision"));
  }
  return { revs };
}

/**
 * The condition of a PUT: `If-Match: "N"` is --if-rev N, `If-None-Match: *`
 * is --if-rev 0. Both at once contradict each other (400); If-None-Match
 * with tags means nothing on a write (400).
 */
export function writeCondition(headers: Headers): number | undefined {
  const ifMatch = parseIfMatch(headers.get("if-match"));
  const ifNone = parseIfNoneMatch(headers.get("if-none-match"));
  if (ifNone && !("any" in ifNone)) throw usage("If-None-Match on a write takes only *: use If-Match for a revision");
  if (ifMatch !== undefined && ifNone) throw usage("If-Match and If-None-Match together: send one");
  return ifNone ? 0 : ifMatch;
}

/** `Last-Event-ID`, sent by a reconnecting EventSource: the rev of the last event it got. */
export function parseLastEventId(header: string | null | undefined): number | undefined {
  if (header === null || header === undefined) return undefined;
  return revision(header.trim(), "Last-Event-ID");
}

/** The longest `?wait` taken: a day. A longer wait is almost surely a unit mistake (ms for s). */
export const MAX_WAIT_SECONDS = 86_400;

/** `?wait=SECONDS` (whole or decimal, up to a day): returns milliseconds. */
export function parseWait(raw: string): number {
  if (!/^(0|[1-9][0-9]*)(\.[0-9]{1,3})?$/.test(raw)) throw usage(`bad ?wait=${raw}: give seconds, e.g. ?wait=30 or ?wait=0.5`);
  const s = Number(raw);
  if (s > MAX_WAIT_SECONDS) throw usage(`bad ?wait=${raw}: at most ${MAX_WAIT_SECONDS} seconds`);
  return Math.round(s * 1000);
}

/** `?since=REV`. */
export function parseSince(raw: string): number {
  return revision(raw, "?since");
}

/**
 * `?ttl=DUR`, as --ttl (protocol/messages.ts parseDuration: a positive
 * integer followed by s, m, h or d; a bare number is seconds), written
 * strictly: no spaces, no leading zeros. Returns milliseconds.
 */
export function parseTtl(raw: string): number {
  if (!/^[1-9][0-9]{0,11}[smhd]?$/.test(raw)) throw usage(`bad ?ttl=${raw}: give a positive duration like 45s, 10m, 2h or 7d`);
  return parseDuration(raw, "?ttl");
}

type Parsers = Record<string, (raw: string) => unknown>;
type Parsed<P extends Parsers> = { [K in keyof P]?: ReturnType<P[K]> };

/**
 * The query string, against the parameters a route takes: each parsed by its
 * function; one the route does not take, or one given twice, is a 400.
 */
export function parseQuery<P extends Parsers>(url: URL, parsers: P): Parsed<P> {
  const out: Record<string, unknown> = {};
  if (url.search === "") return out as Parsed<P>;
  for (const [name, raw] of url.searchParams) {
    const parse = Object.hasOwn(parsers, name) ? parsers[name] : undefined;
    if (!parse) {
      const takes = Object.keys(parsers);
      throw usage(`unknown parameter ?${name}${takes.length ? `: this route takes ${takes.map((t) => `?${t}`).join(", ")}` : ": this route takes none"}`);
    }
    if (Object.hasOwn(out, name)) throw usage(`parameter ?${name} given twice`);
    out[name] = parse(raw);
  }
  return out as Parsed<P>;
}

/** For parameters whose text is the value (?prefix, ?key). */
export const text = (raw: string): string => raw;
