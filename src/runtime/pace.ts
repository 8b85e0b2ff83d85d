/**
 * Slices long stretches of work on the calling thread so the event loop gets a turn: a host that
 * runs a backup, a restore or a check beside other work (an agent's gateway) keeps answering. An
 * operation asks `due()` between units of work and awaits `yield()` when its slice is used up; a
 * turn costs a few microseconds, so a 10 ms slice costs well under 1% of the time.
 */
export const SLICE_MS = 10

export class Pacer {
  private last = performance.now()

  constructor(private readonly sliceMs = SLICE_MS) {}

  /** Whether this thread has run for a slice since its last turn. */
  due(): boolean {
    return performance.now() - this.last >= this.sliceMs
  }

  /** Lets timers and I/O run (setImmediate: after the poll phase), then starts a new slice. */
  async yield(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r))
    this.last = performance.now()
  }

  /** `yield()` when a slice is used up; otherwise nothing (no promise, no turn). */
  maybe(): Promise<void> | undefined {
    return this.due() ? this.yield() : undefined
  }
}
