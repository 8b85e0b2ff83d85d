import { randomBytes } from 'node:crypto'
import { promises as fsp, constants } from 'node:fs'
import { join } from 'node:path'
import { BackendError, ObjectNotFoundError, SessionSyncError } from '../errors/index.js'
import { type Backend, type ByteRange, describe, type FileType, type Handle, type ListedFile } from './backend.js'

const TMP_PREFIX = '.tmp-'

/**
 * A repository in a local directory: the embedded default. Writes are atomic and durable: a
 * temporary file is written and fsynced, then renamed (or linked, for ifAbsent) into place, and the
 * directory is fsynced.
 */
export class LocalBackend implements Backend {
  readonly location: string
  /**
   * A file is renamed into place before save returns, and a directory listing after that shows it.
   * (On a network filesystem whose clients cache directory listings, a listing can lag for as long
   * as that cache lasts, tens of seconds, which no short wait would cover either.)
   */
  readonly listsSavedAtOnce = true
  private readonly madeDirs = new Set<string>()

  constructor(readonly root: string) {
    this.location = root
  }

  private dirOf(h: Handle): string {
    if (h.type === 'config') return this.root
    if (h.type === 'data') return join(this.root, 'data', h.name.slice(0, 2))
    return join(this.root, h.type)
  }

  private pathOf(h: Handle): string {
    if (h.type !== 'config' && !/^[0-9a-f]{2,}$/.test(h.name)) throw new TypeError(`invalid file name ${h.name}`)
    return join(this.dirOf(h), h.type === 'config' ? 'config' : h.name)
  }

  async save(h: Handle, data: Uint8Array, opts?: { ifAbsent?: boolean }): Promise<void> {
    const dir = this.dirOf(h)
    const final = this.pathOf(h)
    const tmp = join(dir, TMP_PREFIX + randomBytes(8).toString('hex'))
    try {
      if (!this.madeDirs.has(dir)) {
        await fsp.mkdir(dir, { recursive: true })
        this.madeDirs.add(dir)
      }
      const fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600)
      try {
        let written = 0
        while (written < data.length) {
          const { bytesWritten } = await fh.write(data, written, data.length - written)
          written += bytesWritten
        }
        await fh.sync()
      } finally {
        await fh.close()
      }
      if (opts?.ifAbsent) {
        try {
          await fsp.link(tmp, final)
        } finally {
          await fsp.unlink(tmp).catch(() => {})
        }
      } else {
        await fsp.rename(tmp, final)
      }
      await syncDir(dir)
    } catch (e) {
      await fsp.unlink(tmp).catch(() => {})
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && opts?.ifAbsent) {
        throw new BackendError('save', describe(h), new Error('file already exists'))
      }
      throw new BackendError('save', describe(h), e)
    }
  }

  stagingPath(): string {
    return join(this.root, 'data', TMP_PREFIX + randomBytes(8).toString('hex'))
  }

  async saveFile(h: Handle, path: string): Promise<void> {
    const dir = this.dirOf(h)
    const final = this.pathOf(h)
    try {
      if (!this.madeDirs.has(dir)) {
        await fsp.mkdir(dir, { recursive: true })
        this.madeDirs.add(dir)
      }
      try {
        await fsp.link(path, final)
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
        const [a, b] = await Promise.all([fsp.stat(path), fsp.stat(final)])
        if (a.size !== b.size) throw new Error('a different file of that name already exists')
      }
      await syncDir(dir)
    } catch (e) {
      throw new BackendError('save', describe(h), e)
    }
  }

  async loadInto(h: Handle, range: ByteRange, out: Uint8Array): Promise<void> {
    if (out.length < range.length) throw new RangeError('output buffer too small for the range')
    try {
      const fh = await fsp.open(this.pathOf(h), 'r')
      try {
        let got = 0
        while (got < range.length) {
          const { bytesRead } = await fh.read(out, got, range.length - got, range.offset + got)
          if (bytesRead === 0) throw new Error(`range ${range.offset}+${range.length} is beyond the end of the file`)
          got += bytesRead
        }
      } finally {
        await fh.close()
      }
    } catch (e) {
      throw this.wrap('load', h, e)
    }
  }

  async load(h: Handle, range?: ByteRange): Promise<Uint8Array> {
    const p = this.pathOf(h)
    try {
      if (!range) return await fsp.readFile(p)
      const fh = await fsp.open(p, 'r')
      try {
        const buf = Buffer.allocUnsafe(range.length)
        let got = 0
        while (got < range.length) {
          const { bytesRead } = await fh.read(buf, got, range.length - got, range.offset + got)
          if (bytesRead === 0) throw new Error(`range ${range.offset}+${range.length} is beyond the end of the file`)
          got += bytesRead
        }
        return buf
      } finally {
        await fh.close()
      }
    } catch (e) {
      throw this.wrap('load', h, e)
    }
  }

  async stat(h: Handle): Promise<{ size: number }> {
    try {
      const st = await fsp.stat(this.pathOf(h))
      return { size: st.size }
    } catch (e) {
      throw this.wrap('stat', h, e)
    }
  }

  /** Removes a file; removing one that is already gone is not an error. */
  async remove(h: Handle): Promise<void> {
    try {
      await fsp.unlink(this.pathOf(h))
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return
      throw this.wrap('remove', h, e)
    }
  }

  async *list(type: FileType): AsyncIterable<ListedFile> {
    if (type === 'config') {
      try {
        const st = await fsp.stat(join(this.root, 'config'))
        yield { name: 'config', size: st.size }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new BackendError('list', 'config', e)
      }
      return
    }
    const dirs = type === 'data' ? (await this.readdir(join(this.root, 'data'))).filter((d) => /^[0-9a-f]{2}$/.test(d)).map((d) => join(this.root, 'data', d)) : [join(this.root, type)]
    for (const dir of dirs) {
      for (const name of await this.readdir(dir)) {
        if (name.startsWith(TMP_PREFIX) || !/^[0-9a-f]{64}$/.test(name)) continue
        try {
          const st = await fsp.stat(join(dir, name))
          yield { name, size: st.size, modified: st.mtime }
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new BackendError('list', `${type}/${name}`, e)
        }
      }
    }
  }

  /** Removes temporary files that writes interrupted by a crash left behind; returns how many. */
  async removeIncomplete(olderThanMs: number): Promise<number> {
    let n = 0
    const packDirs = (await this.readdir(join(this.root, 'data'))).filter((d) => /^[0-9a-f]{2}$/.test(d))
    const dirs = [this.root, ...(['keys', 'index', 'snapshots', 'data', 'locks'] as const).map((t) => join(this.root, t)), ...packDirs.map((d) => join(this.root, 'data', d))]
    for (const dir of dirs) {
      for (const name of await this.readdir(dir)) {
        if (!name.startsWith(TMP_PREFIX)) continue
        try {
          const st = await fsp.stat(join(dir, name))
          if (Date.now() - st.mtimeMs < olderThanMs) continue
          await fsp.unlink(join(dir, name))
          n++
        } catch {
          // gone meanwhile
        }
      }
    }
    return n
  }

  private async readdir(dir: string): Promise<string[]> {
    try {
      return await fsp.readdir(dir)
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw new BackendError('list', dir, e)
    }
  }

  private wrap(op: string, h: Handle, e: unknown): SessionSyncError {
    if (e instanceof SessionSyncError) return e
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new ObjectNotFoundError(h.type === 'config' ? 'config' : h.type, h.name)
    return new BackendError(op, describe(h), e)
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r')
  try {
    await fh.sync()
  } catch {
    // Some file systems do not support fsync on directories; the rename itself is still atomic.
  } finally {
    await fh.close()
  }
}
