// What one client can make a server hold: the bounds every session obeys.
// Tests lower some of them to reach the limits quickly.

export const SESSION_LIMITS = {
  /** Requests open at once on one connection (uploads, waits, watches, replies in flight). */
  maxOpen: 1024,
  /**
   * Requests open at once across every connection: 1024 per connection times
   * thousands of connections would be gigabytes (a wait holds about 0.8 KiB).
   */
  maxOpenTotal: 256 << 10,
  /** Value uploads at once on one connection. */
  maxUploads: 16,
  /** The handshake must finish within this. */
  handshakeMs: 10_000,
  /** Events queued on one subscription before its reader counts as too slow. */
  maxPendingEvents: 64,
  /**
   * Value files held open (shared by every send of one value) for sends not
   * yet made: each is a descriptor, and readers that fall behind on many
   * different values would otherwise run the process out of them (EMFILE
   * for everyone). Past it, the connection with the most files waiting (the
   * slowest reader) is closed, and its files with it.
   */
  maxOpenValueFiles: 2048,
  /**
   * A value chunk is sent only while the connection's queue is at most this.
   * Checked right before each send, so many replies woken together (100
   * waits on one connection) take turns instead of each adding 1 MiB past
   * the queue's hard limit, which would cut the connection off as slow.
   */
  sendRoom: 4 << 20,
};
