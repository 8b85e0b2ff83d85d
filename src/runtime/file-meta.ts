import { fchmodSync, fchownSync, futimesSync, renameSync } from 'node:fs'

/**
 * Finishing a restored file, the same way on the restoring thread and on a blob-opening worker: its
 * owner, mode and times through the descriptor its writes used, then the rename of its temporary
 * name into place.
 */

/** What a restored file gets before it is renamed into place. */
export interface FileMeta {
  uid: number
  gid: number
  /** Permission bits (already masked: see RestoreOptions.keepSetid). */
  mode: number
  /** [seconds, nanoseconds]. */
  mtime: [number, number]
}

/** A time as utimes takes it (seconds): microsecond precision, the middle of the microsecond. */
export function utimeOf([sec, nsec]: [number, number]): number {
  return sec + (Math.floor(nsec / 1000) + 0.5) / 1e6
}

/** Sets owner (when `chown`), mode, and access and modification times, through an open descriptor. */
export function setMetadata(fd: number, meta: FileMeta, chown: boolean): void {
  // The owner before the mode: a chown clears the set-user-ID and set-group-ID bits.
  if (chown) fchownSync(fd, meta.uid, meta.gid)
  fchmodSync(fd, meta.mode)
  const t = utimeOf(meta.mtime)
  futimesSync(fd, t, t)
}

/**
 * Renames a finished temporary file over the final name. A directory in the way makes rename fail
 * (EISDIR, or ENOTEMPTY/EEXIST for a folder name): that is the error, with no lstat before it.
 */
export function replace(tmp: Buffer, final: Buffer): void {
  try {
    renameSync(tmp, final)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST') throw new Error('a directory is in the way', { cause: e })
    throw e
  }
}

/** An error and its causes as plain data (to cross a thread): messages and system error codes. */
export type ErrorChain = Array<{ message: string; code?: string }>

export function errorChain(e: unknown): ErrorChain {
  const out: ErrorChain = []
  for (let c: unknown = e; c !== undefined && out.length < 8; c = c instanceof Error ? c.cause : undefined) {
    const code = (c as NodeJS.ErrnoException)?.code
    out.push({ message: c instanceof Error ? c.message : String(c), ...(typeof code === 'string' ? { code } : {}) })
  }
  return out
}

/** The error an ErrorChain describes: the same messages and codes, each the cause of the one before. */
export function fromErrorChain(chain: ErrorChain): Error {
  let cause: Error | undefined
  for (let i = chain.length - 1; i >= 0; i--) {
    const e: Error & { code?: string } = cause ? new Error(chain[i].message, { cause }) : new Error(chain[i].message)
    if (chain[i].code !== undefined) e.code = chain[i].code
    cause = e
  }
  return cause ?? new Error('unknown error')
}
