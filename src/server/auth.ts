// Secrets on the server's side: group secrets are random 128+ bit strings,
// so a salted SHA-256 is enough to store them (no password stretching
// needed), compared in constant time; and the delays that slow down anyone
// guessing a secret or the cluster token, whichever door (socket or HTTP)
// the guess came through. (The token proof both sides compute is in
// protocol/proof.ts.)

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

/** What a guess of the cluster token came to. */
export type GuessVerdict =
  /** right */
  | "ok"
  /** wrong, answered after the failure's delay */
  | "wrong"
  /** refused unchecked: too many failures on this server right now */
  | "busy";

/** The shared state that slows token guessing: one per server, used by every door. */
export interface TokenGuard {
  readonly delay: FailureDelay;
  readonly turns: TurnGate;
}

/**
 * Checks a guess of the cluster token (a proof on the socket, the token
 * itself over HTTP) under the rules that slow guessing: attempts take turns
 * while someone is failing (TurnGate), and a failure answers only after a
 * delay that grows with each failure from `source` (FailureDelay).
 * `failed(waitMs)` is told before the wait (to log it). Synchronous when no
 * one is failing: a right token costs no promise.
 */
export function checkTokenGuess(guard: TokenGuard, source: string, right: () => boolean, failed: (waitMs: number) => void): GuessVerdict | Promise<GuessVerdict> {
  const turn = guard.turns.turn();
  if (turn < 0) return "busy";
  const judge = (): GuessVerdict | Promise<GuessVerdict> => {
    if (right()) {
      guard.delay.succeed(source);
      return "ok";
    }
    guard.turns.failed();
    const wait = guard.delay.fail(source);
    failed(wait);
    return Bun.sleep(wait).then(() => "wrong" as const);
  };
  return turn === 0 ? judge() : Bun.sleep(turn).then(judge);
}
