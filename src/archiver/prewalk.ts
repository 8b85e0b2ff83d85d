import { lstatSync, readdirSync } from 'node:fs'
import { resolve, sep } from 'node:path'
import { Pacer } from '../runtime/pace.js'
import { EntryStat, STAT_FIELDS } from './entry-stat.js'

/** One folder as the prewalk found it: its entries' names in byte order and each one's lstat. */
export interface PrewalkListing {
  names: Buffer[]
  /** Each entry's lstat, a row of STAT_FIELDS numbers (EntryStat.at); NaN where it failed or was not taken (the backup asks again). */
  stats: Float64Array
}

/** How long a prewalk gathers at most, and how old it may be when a backup takes it. */
const GATHER_MS = 10_000
const USABLE_MS = 60_000
/** The most entries a prewalk keeps (about 0.2 KiB each, with their names). */
const MAX_ENTRIES = 100_000
/** The prewalk gives the event loop a turn this often (it runs beside the key derivation's callback and storage requests). */
const SLICE_MS = 4

/**
 * Folder listings and lstats gathered for a backup while the calling thread would otherwise wait.
 * Opening a repository with a password spends about 0.3 s (Argon2id, 64 MiB) on a thread of Node's
 * pool, and reading the repository's files waits on storage; meanwhile the calling thread is idle.
 * Started before `Repository.open` and given to the backup (`BackupOptions.prewalk`), it lists
 * folders and lstats their entries in that time; the backup's walk then takes each folder it
 * reaches from here, asking the file system only for the ones not reached. A file the backup reads
 * is lstat-ed again before the read (it may be a FIFO or a link by now) and after it, as always.
 * An entry changed after it was gathered and before the walk reached it whose gathered lstat
 * matches the parent snapshot is taken as unchanged, and a folder's entries are those gathered
 * (one added or deleted since then counts from the next backup): as if the backup had looked at
 * them at that moment, a fraction of a second before it would have otherwise.
 *
 * It gathers in slices of 4 ms (a folder of many entries too) until `stop()` (the backup stops it
 * when its walk starts), for at most 10 s or 100,000 entries (a folder is kept whole or not at
 * all); once it is a minute old a backup takes nothing more from it and looks at the rest itself
 * (a backup that waited for a lock, say). Entries are dropped as the walk takes them. It lists
 * what is below the paths, excluded or not (the backup applies its excludes as it walks): a large
 * excluded folder costs it time, within those bounds.
 */
export class Prewalk {
  /** Each source's lstat, by its resolved path. */
  private readonly roots = new Map<string, EntryStat>()
  /** Folders listed, by their path's bytes (latin1); names kept in one buffer a folder (see Kept). */
  private readonly listings = new Map<string, Kept>()
  private readonly startedAt: number
  private stopped = false
  private kept = 0
  /** Settles when gathering ends (stopped, done, or a bound reached). */
  readonly gathered: Promise<void>

  private constructor(
    sources: string[],
    private readonly now: () => number,
    private readonly maxEntries: number,
  ) {
    this.startedAt = now()
    this.gathered = this.gather(sources)
  }

  /**
   * Starts gathering below `paths` (as given to the backup: resolved the same way). `now` and
   * `maxEntries` are for tests (a clock they move, default performance.now; default 100,000).
   */
  static start(paths: string[], opts: { now?: () => number; maxEntries?: number } = {}): Prewalk {
    return new Prewalk(
      paths.map((p) => resolve(p)),
      opts.now ?? (() => performance.now()),
      opts.maxEntries ?? MAX_ENTRIES,
    )
  }

  /** Stops gathering; what was gathered stays for the backup. */
  stop(): void {
    this.stopped = true
  }

  /** Whether it has been stopped (by `stop()`, or by the backup given it). */
  get isStopped(): boolean {
    return this.stopped
  }

  /** Entries gathered and not yet taken. */
  get entries(): number {
    return this.kept
  }

  /** Whether a backup may still use it (started less than a minute ago). */
  get usable(): boolean {
    return this.now() - this.startedAt < USABLE_MS
  }

  /** A source's lstat, once (the walk's first look at it); undefined once the prewalk is too old (see usable). */
  takeRoot(source: string): EntryStat | undefined {
    if (!this.fresh()) return undefined
    const st = this.roots.get(source)
    this.roots.delete(source)
    return st
  }

  /**
   * A folder's listing, once (the walk's look at it); undefined when it was not reached, or once
   * the prewalk is too old: a walk that went on after waiting (for a lock, for slow storage) looks
   * at the rest of the tree itself.
   */
  takeListing(dir: Buffer): PrewalkListing | undefined {
    if (!this.fresh()) return undefined
    const key = dir.toString('latin1')
    const l = this.listings.get(key)
    if (!l) return undefined
    this.listings.delete(key)
    this.kept -= l.ends.length
    return listingOf(l)
  }

  /** A folder's listing, left in place (for a scan before the walk). */
  peekListing(dir: Buffer): PrewalkListing | undefined {
    if (!this.fresh()) return undefined
    const l = this.listings.get(dir.toString('latin1'))
    return l && listingOf(l)
  }

  /** A source's lstat, left in place. */
  peekRoot(source: string): EntryStat | undefined {
    return this.fresh() ? this.roots.get(source) : undefined
  }

  /** usable, and once it is not, everything gathered is dropped. */
  private fresh(): boolean {
    if (this.usable) return true
    this.stop()
    this.listings.clear()
    this.roots.clear()
    this.kept = 0
    return false
  }

  /** Whether gathering must end: stopped, or a bound reached. */
  private over(): boolean {
    return this.stopped || this.kept >= this.maxEntries || this.now() - this.startedAt > GATHER_MS
  }

  private async gather(sources: string[]): Promise<void> {
    // Let the caller go on to open the repository first: gathering starts on the next turn.
    await new Promise<void>((r) => setImmediate(r))
    const pacer = new Pacer(SLICE_MS, this.now)
    /** Gives the event loop a turn once a slice is used up; then whether gathering must end. */
    const pause = async (): Promise<boolean> => {
      const turn = pacer.maybe()
      if (!turn) return false
      await turn
      return this.over()
    }
    // Depth first in the walk's order (names in byte order), so that a prewalk stopped early
    // covers the folders the walk reaches first.
    const stack: Buffer[] = []
    for (let i = sources.length - 1; i >= 0; i--) {
      const s = sources[i]!
      try {
        const st = EntryStat.of(lstatSync(s, { bigint: true }))
        this.roots.set(s, st)
        if (st.isDirectory()) stack.push(Buffer.from(s))
      } catch {
        // the backup reports it
      }
    }
    while (stack.length > 0) {
      if ((await pause()) || this.over()) return
      const dir = stack.pop()!
      let names: Buffer[]
      try {
        names = readdirSync(dir, { encoding: 'buffer' })
      } catch {
        continue // the walk lists it again and reports the error
      }
      // A listing is kept whole or not at all (the walk takes its names as the folder's).
      if (this.kept + names.length > this.maxEntries) return
      names.sort(Buffer.compare)
      // Kept before its entries are lstat-ed, a row at a time between turns of the event loop: a
      // folder of 100,000 files must not hold the loop, and rows not reached when gathering ends
      // stay NaN (the walk lstat-s those itself).
      const stats = new Float64Array(names.length * STAT_FIELDS).fill(NaN)
      const ends = new Uint32Array(names.length)
      let end = 0
      for (let i = 0; i < names.length; i++) ends[i] = end += names[i]!.length
      this.listings.set(dir.toString('latin1'), { bytes: Buffer.concat(names, end), ends, stats })
      this.kept += names.length
      const subdirs: Buffer[] = []
      for (let i = 0; i < names.length; i++) {
        if ((i & 31) === 31 && (await pause())) return
        const path = joinPath(dir, names[i]!)
        try {
          const st = EntryStat.of(lstatSync(path, { bigint: true }))
          st.write(stats, i)
          if (st.isDirectory()) subdirs.push(path)
        } catch {
          // left NaN: the walk asks again
        }
      }
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!)
    }
  }
}

/**
 * A folder's listing as kept: its names back to back in one buffer (`ends[i]`: where name i ends),
 * three objects a folder instead of one or two for every entry. Held until the walk takes them,
 * names kept one Buffer each made the prewalk's heap grow by 20 MiB on 17,000 entries.
 */
interface Kept {
  bytes: Buffer
  ends: Uint32Array
  stats: Float64Array
}

/** A kept listing with its names as Buffers (views into `bytes`, no copies). */
function listingOf(k: Kept): PrewalkListing {
  const names: Buffer[] = new Array(k.ends.length)
  let start = 0
  for (let i = 0; i < k.ends.length; i++) {
    const end = k.ends[i]!
    names[i] = k.bytes.subarray(start, end)
    start = end
  }
  return { names, stats: k.stats }
}

const SEP = sep.charCodeAt(0)

/** dir + separator + name, as the backup's walk joins them. */
export function joinPath(dir: Buffer, name: Buffer): Buffer {
  const path = Buffer.allocUnsafe(dir.length + 1 + name.length)
  dir.copy(path, 0)
  path[dir.length] = SEP
  name.copy(path, dir.length + 1)
  return path
}
