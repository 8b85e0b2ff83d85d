import { ObjectExistsError, ProtectedRepositoryError } from '../errors/index.js'
import { type Backend, type ByteRange, describe, type FileType, type Handle, type ListedFile, type ListedVersion, versionedOf } from './backend.js'

/**
 * The storage under a protected repository's writer: every save refuses to overwrite (and on
 * versioned storage carries Content-MD5 in one request), and nothing is ever removed: a remove is a
 * typed error, and there is no cleanup of interrupted uploads. Every file but `config` is named by
 * the SHA-256 of its bytes, so finding one there already with the same size means it is stored (a
 * retry, or another device's identical file), not that it must be overwritten.
 */
export class ProtectedWrites implements Backend {
  readonly loadInto?: (h: Handle, range: ByteRange, out: Uint8Array) => Promise<void>
  readonly listVersions?: (type: FileType) => AsyncIterable<ListedVersion>
  readonly loadVersion?: (h: Handle, versionId: string, range?: ByteRange) => Promise<Uint8Array>

  constructor(readonly inner: Backend) {
    versionedOf(inner)?.protectWrites()
    const { loadInto, listVersions, loadVersion } = inner
    if (loadInto) this.loadInto = (h, range, out) => loadInto.call(inner, h, range, out)
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

  async save(h: Handle, data: Uint8Array): Promise<void> {
    try {
      await this.inner.save(h, data, { ifAbsent: true })
    } catch (e) {
      if (!(e instanceof ObjectExistsError) || h.type === 'config') throw e
      const st = await this.inner.stat(h)
      if (st.size !== data.length) throw e
    }
  }

  load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    return this.inner.load(h, range)
  }

  stat(h: Handle): Promise<{ size: number }> {
    return this.inner.stat(h)
  }

  async remove(h: Handle): Promise<void> {
    throw new ProtectedRepositoryError(`remove ${describe(h)}`)
  }

  list(type: FileType): AsyncIterable<ListedFile> {
    return this.inner.list(type)
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve()
  }
}
