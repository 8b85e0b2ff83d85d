import { stat } from 'node:fs/promises'
import { BackendDecorator } from './decorator.js'
import type { Backend, ByteRange, Handle } from './backend.js'

/**
 * Reads pass through; writes and removals are counted and dropped (restic's `dryrun` backend). An
 * operation run on it does all its reading and computing and changes nothing in storage: a backup
 * --dry-run learns what it would add. A file staged for saveFile stays where it is, for its writer
 * to delete as after any save.
 */
export class DryRunBackend extends BackendDecorator {
  /** Files that would have been stored, and their bytes, by kind (data, index, snapshots, locks, …). */
  readonly dropped: Record<string, { files: number; bytes: number }> = {}
  /** Files that would have been removed. */
  removals = 0

  constructor(inner: Backend) {
    super(inner)
    // Nothing is removed, unfinished uploads included.
    if (this.removeIncomplete) Object.defineProperty(this, 'removeIncomplete', { value: async () => 0 })
  }

  private count(h: Handle, bytes: number): void {
    const d = (this.dropped[h.type] ??= { files: 0, bytes: 0 })
    d.files++
    d.bytes += bytes
  }

  protected aroundLoadInto(_h: Handle, _range: ByteRange, next: () => Promise<void>): Promise<void> {
    return next()
  }

  protected async aroundSaveFile(h: Handle, path: string): Promise<void> {
    this.count(h, (await stat(path)).size)
  }

  async save(h: Handle, data: Uint8Array): Promise<void> {
    this.count(h, data.length)
  }

  load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    return this.inner.load(h, range)
  }

  stat(h: Handle): Promise<{ size: number }> {
    return this.inner.stat(h)
  }

  async remove(): Promise<void> {
    this.removals++
  }
}

export function withDryRun(backend: Backend): DryRunBackend {
  return new DryRunBackend(backend)
}
