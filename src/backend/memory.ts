import { BackendError, ObjectNotFoundError } from '../errors/index.js'
import { type Backend, type ByteRange, describe, type FileType, type Handle, type ListedFile } from './backend.js'

/** Keeps files in a Map: for tests and for throw-away repositories. */
export class MemoryBackend implements Backend {
  readonly location = 'memory:'
  readonly listsSavedAtOnce = true
  readonly files = new Map<string, Uint8Array>()
  /** When each file was stored (tests may move it back in time). */
  readonly modified = new Map<string, Date>()

  private key(h: Handle): string {
    return `${h.type}/${h.name}`
  }

  async save(h: Handle, data: Uint8Array, opts?: { ifAbsent?: boolean }): Promise<void> {
    const k = this.key(h)
    if (opts?.ifAbsent && this.files.has(k)) throw new BackendError('save', describe(h), new Error('file already exists'))
    this.files.set(k, Uint8Array.from(data))
    this.modified.set(k, new Date())
  }

  async load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    const f = this.files.get(this.key(h))
    if (!f) throw new ObjectNotFoundError(h.type, h.name)
    if (!range) return Uint8Array.from(f)
    if (range.offset < 0 || range.length < 0 || range.offset + range.length > f.length) {
      throw new BackendError('load', describe(h), new Error(`range ${range.offset}+${range.length} is beyond the end of the file`))
    }
    return f.slice(range.offset, range.offset + range.length)
  }

  async stat(h: Handle): Promise<{ size: number }> {
    const f = this.files.get(this.key(h))
    if (!f) throw new ObjectNotFoundError(h.type, h.name)
    return { size: f.length }
  }

  async remove(h: Handle): Promise<void> {
    this.files.delete(this.key(h))
    this.modified.delete(this.key(h))
  }

  async *list(type: FileType): AsyncIterable<ListedFile> {
    const prefix = `${type}/`
    for (const [k, v] of [...this.files]) if (k.startsWith(prefix)) yield { name: k.slice(prefix.length), size: v.length, modified: this.modified.get(k) }
  }
}
