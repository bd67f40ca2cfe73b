// Secrets on the server's side: group secrets are random 128+ bit strings,
// so a salted SHA-256 is enough to store them (no password stretching
// needed), compared in constant time; and the delays that slow down anyone
// guessing a secret or the cluster token. (The token proof both sides
// compute is in protocol/proof.ts.)

import { createHash, randomBytes } from "node:crypto";
import { sameHex } from "../protocol/proof.ts";
export { sameHex };

/** A new group secret: 160 random bits, URL-safe. */
export function newSecret(): string {
  return randomBytes(20).toString("base64url");
}

export function hashSecret(secret: string, salt: string): string {
  return createHash("sha256").update(`${salt}|${secret}`).digest("hex");
}

export function newSalt(): string {
  return randomBytes(16).toString("hex");
}

/**
 * Slows down guessing: each failure from the same source (a connection, a
 * remote address, a group) costs more waiting before the answer, up to `max`.
 */
export class FailureDelay {
  private failures = new Map<string, { n: number; last: number }>();
  constructor(
    private readonly baseMs = 250,
    private readonly maxMs = 4000,
    private readonly forgetMs = 10 * 60_000,
  ) {}

  /** Records a failure and returns how long to wait before answering. */
  fail(source: string): number {
    const now = Date.now();
    const f = this.failures.get(source);
    const n = f && now - f.last < this.forgetMs ? f.n + 1 : 1;
    this.failures.set(source, { n, last: now });
    if (this.failures.size > 10_000) this.prune(now);
    return Math.min(this.maxMs, this.baseMs * 2 ** (n - 1));
  }

  succeed(source: string): void {
    this.failures.delete(source);
  }

  private prune(now: number): void {
    for (const [k, f] of this.failures) if (now - f.last > this.forgetMs) this.failures.delete(k);
    // Still too many (a flood of distinct sources): forget the oldest half.
    if (this.failures.size > 10_000) {
      const keys = [...this.failures.keys()];
      for (const k of keys.slice(0, keys.length / 2)) this.failures.delete(k);
    }
  }
}

/**
 * Per-source delays alone let an attacker multiply guesses by opening
 * connections (or using addresses): after a failure, attempts from every
 * source take turns, so the checks an attacker gets are bounded by time,
 * not by connections. A legitimate client waits its turn only while
 * someone is failing. One gate per secret (the cluster token), so a local
 * app with a wrong group secret does not hold back peers.
 */
export class TurnGate {
  /** While failures are recent, the earliest time the next attempt may be checked. */
  private nextTurn = 0;
  constructor(
    /** Spacing between checks after a failure (10 a second). */
    private readonly turnMs = 100,
    /** A line of waiting attempts longer than this is refused unchecked. */
    private readonly maxLineMs = 5000,
  ) {}

  /** How long to wait before checking an attempt, or -1 to refuse it without checking. */
  turn(): number {
    const now = Date.now();
    if (this.nextTurn <= now) return 0;
    const wait = this.nextTurn - now;
    if (wait > this.maxLineMs) return -1;
    this.nextTurn += this.turnMs;
    return wait;
  }

  failed(): void {
    this.nextTurn = Math.max(this.nextTurn, Date.now()) + this.turnMs;
  }
}
