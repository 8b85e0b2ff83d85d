/**
 * Slices long stretches of work on the calling thread so the event loop gets a turn: a host that
 * runs a backup, a restore or a check beside other work (an agent's gateway) keeps answering. An
 * operation asks `due()` between units of work and awaits `yield()` when its slice is used up; a
 * turn costs a few microseconds, so a 10 ms slice costs well under 1% of the time.
 */
export const SLICE_MS = 10

export class Pacer {
  /** Counts the slices begun: tells the first task to resume after a turn from the others. */
  private slice = 0

  private last: number

  /** `now` is for tests (a clock they move). */
  constructor(
    private readonly sliceMs = SLICE_MS,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.last = now()
  }

  /** Whether this thread has run for a slice since its last turn. */
  due(): boolean {
    return this.now() - this.last >= this.sliceMs
  }

  /**
   * Lets timers and I/O run (setImmediate: after the poll phase), then starts a new slice.
   *
   * Tasks running side by side share one pacer, and those that yielded in the same slice all resume
   * in the same turn: the first to resume starts the new slice; the others go on while it lasts and
   * wait for the next turn once it is used up. (Before, each started a slice of its own on resuming,
   * so a hundred files finishing at once held the event loop for a hundred small steps in one turn.)
   */
  async yield(): Promise<void> {
    for (;;) {
      const slice = this.slice
      await new Promise<void>((r) => setImmediate(r))
      if (this.slice === slice) {
        this.slice++
        this.last = this.now()
        return
      }
      if (!this.due()) return
    }
  }

  /** `yield()` when a slice is used up; otherwise nothing (no promise, no turn). */
  maybe(): Promise<void> | undefined {
    return this.due() ? this.yield() : undefined
  }
}
