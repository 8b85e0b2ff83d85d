import type { Backend, ByteRange, FileType, Handle, ListedFile, ListedVersion } from './backend.js'

/**
 * A backend that wraps another to count, limit, retry or fail its requests. The optional calls exist
 * on the wrapper exactly where the backend below has them, and a wrapper says once, in
 * `aroundLoadInto` and `aroundSaveFile`, what it does around them (`next` makes the call below).
 * `removeIncomplete`, `listVersions` and `loadVersion` are passed through as they are.
 */
export abstract class BackendDecorator implements Backend {
  readonly loadInto?: (h: Handle, range: ByteRange, out: Uint8Array) => Promise<void>
  readonly stagingPath?: () => string
  readonly saveFile?: (h: Handle, path: string) => Promise<void>
  readonly removeIncomplete?: (olderThanMs: number) => Promise<number>
  readonly listVersions?: (type: FileType) => AsyncIterable<ListedVersion>
  readonly loadVersion?: (h: Handle, versionId: string, range?: ByteRange) => Promise<Uint8Array>

  constructor(readonly inner: Backend) {
    const { loadInto, stagingPath, saveFile, removeIncomplete, listVersions, loadVersion } = inner
    if (loadInto) this.loadInto = (h, range, out) => this.aroundLoadInto(h, range, () => loadInto.call(inner, h, range, out))
    if (stagingPath && saveFile) {
      this.stagingPath = () => stagingPath.call(inner)
      this.saveFile = (h, path) => this.aroundSaveFile(h, path, () => saveFile.call(inner, h, path))
    }
    if (removeIncomplete) this.removeIncomplete = (olderThanMs) => removeIncomplete.call(inner, olderThanMs)
    if (listVersions && loadVersion) {
      this.listVersions = (type) => listVersions.call(inner, type)
      this.loadVersion = (h, versionId, range) => loadVersion.call(inner, h, versionId, range)
    }
  }

  get location(): string {
    return this.inner.location
  }

  get remote(): boolean | undefined {
    return this.inner.remote
  }

  get listsSavedAtOnce(): boolean | undefined {
    return this.inner.listsSavedAtOnce
  }

  abstract save(h: Handle, data: Uint8Array, opts?: { ifAbsent?: boolean }): Promise<void>
  abstract load(h: Handle, range?: ByteRange): Promise<Uint8Array>
  abstract stat(h: Handle): Promise<{ size: number }>
  abstract remove(h: Handle): Promise<void>

  list(type: FileType): AsyncIterable<ListedFile> {
    return this.inner.list(type)
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve()
  }

  /** Around the backend's loadInto, which `next` calls. */
  protected abstract aroundLoadInto(h: Handle, range: ByteRange, next: () => Promise<void>): Promise<void>
  /** Around the backend's saveFile, which `next` calls. */
  protected abstract aroundSaveFile(h: Handle, path: string, next: () => Promise<void>): Promise<void>
}
