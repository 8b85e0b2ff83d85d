import { constants, type BigIntStats } from 'node:fs'

const { S_IFMT, S_IFDIR, S_IFREG, S_IFLNK } = constants

/** Numbers in one EntryStat row (see EntryStat.write). */
export const STAT_FIELDS = 10

/**
 * What a backup uses of an lstat, as plain numbers: times as whole seconds and nanoseconds (a
 * tree node's timespec). Made from a BigIntStats (nanosecond times), or read back from a row of
 * numbers a prewalk keeps (80 bytes an entry instead of the 1 KiB a BigIntStats holds on to).
 */
export class EntryStat {
  constructor(
    readonly mode: number,
    readonly uid: number,
    readonly gid: number,
    readonly size: number,
    readonly ino: number,
    readonly dev: number,
    readonly mtimeSec: number,
    readonly mtimeNsec: number,
    readonly ctimeSec: number,
    readonly ctimeNsec: number,
  ) {}

  static of(st: BigIntStats): EntryStat {
    const [ms, mn] = timeSpec(st.mtimeNs)
    const [cs, cn] = timeSpec(st.ctimeNs)
    return new EntryStat(Number(st.mode), Number(st.uid), Number(st.gid), Number(st.size), Number(st.ino), Number(st.dev), ms, mn, cs, cn)
  }

  /** The entry at `row` of `rows` (written by `write`), or undefined where none was. */
  static at(rows: Float64Array, row: number): EntryStat | undefined {
    const o = row * STAT_FIELDS
    const mode = rows[o]!
    if (Number.isNaN(mode)) return undefined
    return new EntryStat(mode, rows[o + 1]!, rows[o + 2]!, rows[o + 3]!, rows[o + 4]!, rows[o + 5]!, rows[o + 6]!, rows[o + 7]!, rows[o + 8]!, rows[o + 9]!)
  }

  /** Writes this entry at `row` of `rows`. */
  write(rows: Float64Array, row: number): void {
    const o = row * STAT_FIELDS
    rows[o] = this.mode
    rows[o + 1] = this.uid
    rows[o + 2] = this.gid
    rows[o + 3] = this.size
    rows[o + 4] = this.ino
    rows[o + 5] = this.dev
    rows[o + 6] = this.mtimeSec
    rows[o + 7] = this.mtimeNsec
    rows[o + 8] = this.ctimeSec
    rows[o + 9] = this.ctimeNsec
  }

  isDirectory(): boolean {
    return (this.mode & S_IFMT) === S_IFDIR
  }

  isFile(): boolean {
    return (this.mode & S_IFMT) === S_IFREG
  }

  isSymbolicLink(): boolean {
    return (this.mode & S_IFMT) === S_IFLNK
  }
}

/** Nanoseconds since the epoch as [seconds, nanoseconds], the nanoseconds in 0..999,999,999. */
export function timeSpec(ns: bigint): [number, number] {
  let sec = ns / 1_000_000_000n
  let rem = ns % 1_000_000_000n
  if (rem < 0n) {
    rem += 1_000_000_000n
    sec -= 1n
  }
  return [Number(sec), Number(rem)]
}
