import { Pacer } from '../runtime/pace.js'
import { randomInt } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { countsSince, type RequestCounts } from '../backend/counter.js'
import { fromHex, ID_BYTES, packNameMatches, toHex } from '../crypto/ids.js'
import { BLOB_OVERHEAD, openFile } from '../crypto/seal.js'
import { BackendError, CorruptObjectError, InvalidOptionsError, ObjectNotFoundError, throwIfAborted, UnsupportedFormatError } from '../errors/index.js'
import { BlobIndex, type BlobLocation } from '../repository/blob-index.js'
import { BlobType, decodeObject, packHeaderSchema, type IndexFile, type PackHeader, type Tree } from '../repository/repofile.js'
import { decodeTree } from '../repository/tree-decode.js'
import { mapLimit, type Repository, type Snapshot } from '../repository/repository.js'
import { BATCH_RAW_BYTES, BlobOpenFailed, BlobOpenPool, bufferAllocator, defaultOpenThreads, isShared, yieldToEvents } from '../repository/blob-open-pool.js'
import { ByteRing, type Region } from '../runtime/byte-ring.js'
import { YoungGarbage } from '../runtime/young-gc.js'
import type { RetentionReport } from '../repository/retention.js'

// ---- public types -------------------------------------------------------------------------------

/**
 * Stable codes of the problems `check` reports. Every kind but `pack-unindexed` is an error and
 * makes the report's `ok` false:
 *
 * - `index-unreadable`: an index file does not load (hash, decryption or schema); its packs then
 *   count as unindexed and its blobs as missing (prune indexes them again and deletes the file).
 * - `index-invalid`: an index entry contradicts itself (a blob outside its pack, a sealed length
 *   shorter than the sealing overhead, index files that disagree about a pack's size).
 * - `snapshot-unreadable`: a snapshot file does not load.
 * - `pack-missing`: an indexed pack is not in `data/`.
 * - `pack-size`: an indexed pack's size in `data/` is not the size its index entry gives.
 * - `pack-unindexed` (**warning**): a file in `data/` that no index names. This is what an
 *   interrupted backup leaves behind (packs uploaded after its last index file), or a lost index
 *   file; backups and prune index such packs again where their data is needed, so it alone does not
 *   make `ok` false.
 * - `blob-conflict`: one blob is listed twice with different raw lengths, or with the same codec
 *   and different sealed lengths (identical duplicates, and copies compressed differently, are fine).
 * - `blob-missing`: a tree of a snapshot refers to a data blob or subtree that no index lists.
 * - `tree-unreadable`: a tree blob cannot be read, authenticated, decoded or validated (including
 *   unsafe node names), or its pack is missing.
 * - `file-size`: a file node's size differs from the sum of its blobs' raw lengths.
 * - `pack-hash` (read-data only): a pack's bytes do not match its name (the SHA-256 of its trailer, or
 *   of all its bytes for packs written before that).
 * - `pack-header` (read-data only): a pack's header cannot be read, or disagrees with the index.
 * - `blob-corrupt` (read-data only): a blob fails authentication, decompression or its id check.
 * - `retention-short` (protected repositories with Object Lock): an object a snapshot needs is
 *   locked for less than the snapshot's storage time + R, and could not be extended.
 */
export type ProblemKind =
  | 'index-unreadable'
  | 'index-invalid'
  | 'snapshot-unreadable'
  | 'pack-missing'
  | 'pack-size'
  | 'pack-unindexed'
  | 'blob-conflict'
  | 'blob-missing'
  | 'tree-unreadable'
  | 'file-size'
  | 'pack-hash'
  | 'pack-header'
  | 'blob-corrupt'
  | 'retention-short'

/** Kinds that are warnings: reported, but they do not make `CheckReport.ok` false. */
export const WARNING_KINDS: ReadonlySet<ProblemKind> = new Set<ProblemKind>(['pack-unindexed'])

/** Whether a problem of this kind is only a warning (see `ProblemKind`). */
export function isWarning(kind: string): boolean {
  return WARNING_KINDS.has(kind as ProblemKind)
}

/** One thing wrong with the repository. */
export interface Problem {
  kind: ProblemKind
  /**
   * The object at fault, with its full id: `index <id>`, `snapshot <id>`, `pack <id>`,
   * `tree <id>` (a tree blob) or `blob <id>` (a data blob).
   */
  object: string
  /** What is wrong, for a person; names the pack, path and snapshot where they matter. */
  message: string
  /** The pack the problem is about (`pack-size`, and the problems found reading packs' data). */
  pack?: string
  /**
   * On a `pack-hash` or `pack-header` problem: every blob the index lists in `pack` opened intact,
   * so nothing is lost; prune's `repack` option writes them into a new pack (see adviceFor).
   */
  intact?: boolean
}

export interface CheckProgress {
  /** In this order, but with `readData` the data phase runs beside `snapshots` and `trees`. */
  phase: 'index' | 'packs' | 'snapshots' | 'trees' | 'data'
  done: number
  /** For `trees`, the number of tree blobs in the index (an upper bound of what is walked). */
  total: number
}

export interface CheckOptions {
  /** Download every indexed pack and verify it whole (hash, header, every blob). */
  readData?: boolean
  /**
   * Read only part of the packs (implies reading data): `n/m` is the n-th of m parts (1-based) of
   * the pack id space, so the parts 1/m … m/m together read every pack exactly once and a pack stays
   * in its part as the repository grows; `P%` is a random P percent of the packs (at least one).
   */
  readDataSubset?: string
  /**
   * Worker threads that open blobs alongside the calling thread when reading data (0: on the calling
   * thread only). Default: one per core but one (at least one, at most 4); none when the packs to read
   * hold under 16 MiB.
   */
  threads?: number
  signal?: AbortSignal
  onProgress?: (p: CheckProgress) => void
  /**
   * In a protected repository with Object Lock, extend the retention of objects locked for less
   * than a snapshot needs (default true; needs a credential that may set retention, the owner's).
   * False only names them.
   */
  extendRetention?: boolean
}

export interface CheckCounts {
  /** Index files in `index/` (readable or not). */
  indexFiles: number
  /** Distinct packs named by the live index files. */
  packs: number
  /** Distinct blobs (type and id) named by the live index files. */
  blobs: number
  /** Snapshot files in `snapshots/` (readable or not). */
  snapshots: number
  /** Distinct trees walked (loaded and valid). */
  trees: number
  /** Packs downloaded whole by the data check. */
  packsRead: number
  /** Bytes of those packs. */
  bytesRead: number
}

export interface CheckReport {
  /** True when no problem other than a warning (see `WARNING_KINDS`) was found. */
  ok: boolean
  /** In the order found: index, packs, snapshots, trees, data. */
  problems: Problem[]
  counts: CheckCounts
  /** Requests the check made (never a PUT or DELETE; retention requests are counted in `retention`). */
  requests: RequestCounts
  durationMs: number
  /**
   * In a protected repository with Object Lock: every object a snapshot needs, held against the
   * snapshot's storage time + R; those short were extended (`extended`) or are named in `lapsing`
   * (and as `retention-short` problems).
   */
  retention?: RetentionReport
}

// ---- pack selection ------------------------------------------------------------------------------

/** A parsed `readDataSubset`. */
export type DataSubset = { part: number; of: number } | { percent: number }

/** Parses `n/m` or `P%`; throws InvalidOptionsError otherwise. */
export function parseDataSubset(spec: string): DataSubset {
  const s = spec.trim()
  const frac = /^(\d+)\/(\d+)$/.exec(s)
  if (frac) {
    const part = Number(frac[1])
    const of = Number(frac[2])
    if (!Number.isSafeInteger(part) || !Number.isSafeInteger(of) || of < 1 || part < 1 || part > of) {
      throw new InvalidOptionsError(`read-data subset "${spec}": n/m needs 1 <= n <= m`, { subset: spec })
    }
    return { part, of }
  }
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(s)
  if (pct) {
    const percent = Number(pct[1])
    if (!(percent > 0 && percent <= 100)) throw new InvalidOptionsError(`read-data subset "${spec}": the percentage must be above 0 and at most 100`, { subset: spec })
    return { percent }
  }
  throw new InvalidOptionsError(`read-data subset "${spec}" is neither n/m (for example 1/5) nor a percentage (for example 10%)`, { subset: spec })
}

/**
 * Which of the given packs (64-hex ids) a subset selects, in id order. `n/m` splits the id space
 * into m equal ranges by the first 64 bits of the id; `P%` draws round(P% of the packs), at least one.
 */
export function selectPacks(packIds: readonly string[], subset: DataSubset | undefined): string[] {
  const sorted = [...packIds].sort()
  if (!subset) return sorted
  if ('of' in subset) {
    const m = BigInt(subset.of)
    const want = BigInt(subset.part - 1)
    return sorted.filter((id) => (BigInt(`0x${id.slice(0, 16)}`) * m) >> 64n === want)
  }
  if (sorted.length === 0) return []
  const n = Math.min(sorted.length, Math.max(1, Math.round((sorted.length * subset.percent) / 100)))
  const pool = [...sorted]
  for (let i = 0; i < n; i++) {
    const j = i + randomInt(pool.length - i)
    ;[pool[i], pool[j]] = [pool[j], pool[i]]
  }
  return pool.slice(0, n).sort()
}

// ---- check -----------------------------------------------------------------------------------------

/** One pack as the live index files describe it. */
interface IndexedPack {
  id: Buffer
  size: number
  scheme: number
  keyId: number
  /** The index file that first named it. */
  indexFile: string
  /** Its entries (only kept when data is read): [type, id, offset, sealed length, raw length, codec]. */
  blobs: Array<IndexFile['packs'][number]['blobs'][number]>
}

/** Packs at most this big are loaded whole (and cached) when trees are read from them. */
const WHOLE_TREE_PACK = 32 * 1024 * 1024
/** Packs read ahead of the one being verified at most (their bytes also have to fit; see checkData). */
const READ_AHEAD = 8
const TREE_PACK_CACHE = 64 * 1024 * 1024

/** Errors that mean "this object is damaged or gone", as opposed to "the storage failed". */
function isDamage(e: unknown): e is Error {
  return e instanceof CorruptObjectError || e instanceof UnsupportedFormatError || e instanceof ObjectNotFoundError
}

function reasonOf(e: unknown): string {
  if (e instanceof CorruptObjectError || e instanceof UnsupportedFormatError) {
    const d = e.data as { reason?: string; detail?: string }
    return d.reason ?? (d.detail ? `uses ${d.detail}` : e.message)
  }
  if (e instanceof ObjectNotFoundError) return 'it does not exist'
  return e instanceof Error ? e.message : String(e)
}

const blobObject = (type: BlobType, id: Uint8Array): string => `${type === BlobType.Tree ? 'tree' : 'blob'} ${toHex(id)}`

/**
 * Checks a repository without modifying it: the index files, that every indexed pack exists with its
 * size, every snapshot, and every tree reachable from a snapshot (each distinct tree read once) with
 * the blobs it refers to; with `readData` (or a subset), downloads packs in order (reading ahead
 * as many as fit in twice the largest, up to 8) while the snapshots and trees are walked, and
 * verifies their hash, header and every blob. Damage is reported as problems; failures of the
 * storage itself (and aborts) are thrown.
 */
export async function check(repo: Repository, opts: CheckOptions = {}): Promise<CheckReport> {
  // Like restic's, a check reads storage: a good copy in the local cache must not hide a damaged file.
  return repo.withoutCache(() => checkStorage(repo, opts))
}

async function checkStorage(repo: Repository, opts: CheckOptions): Promise<CheckReport> {
  const started = performance.now()
  const before = repo.requests()
  const subset = opts.readDataSubset !== undefined ? parseDataSubset(opts.readDataSubset) : undefined
  const readData = opts.readData === true || subset !== undefined
  const { signal, onProgress } = opts
  const problems: Problem[] = []
  const problem = (kind: ProblemKind, object: string, message: string, about?: Pick<Problem, 'pack' | 'intact'>) => problems.push({ kind, object, message, ...about })
  const counts: CheckCounts = { indexFiles: 0, packs: 0, blobs: 0, snapshots: 0, trees: 0, packsRead: 0, bytesRead: 0 }
  throwIfAborted(signal, 'check')

  // ---- index files
  const indexNames = (await listNames(repo, 'index')).sort()
  counts.indexFiles = indexNames.length
  let done = 0
  onProgress?.({ phase: 'index', done, total: indexNames.length })
  const loaded = await mapLimit(indexNames, 8, async (name) => {
    throwIfAborted(signal, 'check')
    let file: IndexFile | undefined
    try {
      file = await repo.loadIndexFile(name)
    } catch (e) {
      if (!isDamage(e)) throw e
      problem('index-unreadable', `index ${name}`, `index file ${name} cannot be read: ${reasonOf(e)}`)
    }
    onProgress?.({ phase: 'index', done: ++done, total: indexNames.length })
    return { name, file }
  })
  // Problems from parallel loads arrive in completion order; keep them in name order.
  sortSection(problems, 0)
  const superseded = new Set<string>()
  for (const { file } of loaded) for (const s of file?.supersedes ?? []) superseded.add(toHex(s))

  const packs = new Map<string, IndexedPack>()
  const index = new BlobIndex(loaded.reduce((n, f) => n + (f.file?.packs.reduce((m, p) => m + p.blobs.length, 0) ?? 0), 0))
  const conflicted = new Set<string>()
  let treeTotal = 0
  for (const { name, file } of loaded) {
    if (!file || superseded.has(name)) continue
    for (const p of file.packs) {
      const packId = Buffer.from(p.id)
      const hex = toHex(packId)
      const known = packs.get(hex)
      if (known && known.size !== p.size) {
        problem('index-invalid', `pack ${hex}`, `index files ${known.indexFile} and ${name} disagree about the size of pack ${hex} (${known.size} and ${p.size} bytes)`)
      }
      const pack: IndexedPack = known ?? { id: packId, size: p.size, scheme: p.scheme, keyId: p.keyId, indexFile: name, blobs: [] }
      if (!known) packs.set(hex, pack)
      let outside = 0
      let firstOutside = ''
      for (let k = 0; k < p.blobs.length; k++) {
        const entry = p.blobs[k]
        const type = entry[0]
        const id = entry[1]
        const offset = entry[2]
        const length = entry[3]
        const raw = entry[4]
        const codec = entry[5]
        if (readData) pack.blobs.push(entry)
        if (offset + length > p.size - 4 || length < BLOB_OVERHEAD) {
          if (outside++ === 0) firstOutside = `${blobObject(type, id)} at ${offset}+${length}`
        }
        if (index.add(type, id, packId, offset, length, raw, codec)) {
          if (type === BlobType.Tree) treeTotal++
          continue
        }
        const prev = index.get(type, id)!
        const key = `${type}:${toHex(id)}`
        if (conflicted.has(key)) continue
        if (prev.rawLength !== raw || (prev.codec === codec && prev.length !== length)) {
          conflicted.add(key)
          problem(
            'blob-conflict',
            blobObject(type, id),
            `${blobObject(type, id)} is listed as ${prev.length} sealed / ${prev.rawLength} raw bytes (codec ${prev.codec}) in pack ${toHex(prev.packId)} and as ${length} / ${raw} (codec ${codec}) in pack ${hex} (index ${name})`,
          )
        }
      }
      if (outside > 0) {
        problem('index-invalid', `pack ${hex}`, `index ${name} places ${outside} blob(s) of pack ${hex} outside its ${p.size} bytes or shorter than a sealed blob can be (first: ${firstOutside})`)
      }
    }
  }
  loaded.length = 0 // let the decoded index files go
  counts.packs = packs.size
  counts.blobs = index.size

  // ---- packs in data/
  throwIfAborted(signal, 'check')
  const stored = new Map<string, number>()
  for await (const f of repo.backend.list('data')) stored.set(f.name, f.size)
  const packNames = [...packs.keys()].sort()
  done = 0
  onProgress?.({ phase: 'packs', done, total: packNames.length })
  for (const name of packNames) {
    const want = packs.get(name)!.size
    const have = stored.get(name)
    if (have === undefined) problem('pack-missing', `pack ${name}`, `pack ${name} (named by index ${packs.get(name)!.indexFile}) is not in the repository`)
    else if (have !== want) problem('pack-size', `pack ${name}`, `pack ${name} is ${have} bytes; its index says ${want}`, { pack: name })
    onProgress?.({ phase: 'packs', done: ++done, total: packNames.length })
  }
  for (const name of [...stored.keys()].sort()) {
    if (!packs.has(name)) problem('pack-unindexed', `pack ${name}`, `pack ${name} is in no index (left by an interrupted backup, or its index file is lost)`)
  }

  // ---- snapshots and trees, and beside them the data (read-data)
  // With read-data the packs are read and their blobs opened while the snapshots and trees are walked:
  // opening blobs keeps the workers busy and the walk fills this thread's time between batches, where
  // one after the other this thread waited for the workers and then the workers for the walk. Data
  // problems are still reported after the walk's. Whichever fails first stops the other, and its
  // error is the one thrown.
  const stop = new AbortController()
  const walkSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal
  let failure: { error: unknown } | undefined
  const fail = (error: unknown): never => {
    failure ??= { error }
    stop.abort()
    throw error
  }
  const data = readData ? checkData(repo, { packNames, stored, packs, subset, counts, threads: opts.threads, signal: walkSignal, onProgress }).catch(fail) : undefined
  const pacer = new Pacer()
  const walk = async () => {
    const snapNames = (await listNames(repo, 'snapshots')).sort()
    counts.snapshots = snapNames.length
    done = 0
    onProgress?.({ phase: 'snapshots', done, total: snapNames.length })
    const mark = problems.length
    const snaps = (
      await mapLimit(snapNames, 8, async (name) => {
        throwIfAborted(walkSignal, 'check')
        let snap: Snapshot | undefined
        try {
          snap = await repo.loadSnapshot(name)
        } catch (e) {
          if (!isDamage(e)) throw e
          problem('snapshot-unreadable', `snapshot ${name}`, `snapshot ${name} cannot be read: ${reasonOf(e)}`)
        }
        onProgress?.({ phase: 'snapshots', done: ++done, total: snapNames.length })
        return snap
      })
    ).filter((s): s is Snapshot => s !== undefined)
    sortSection(problems, mark)

    // ---- trees
    const trees = new TreeReader(repo, stored)
    const visited = new Set<string>()
    const missingData = new Set<string>()
    done = 0
    onProgress?.({ phase: 'trees', done, total: treeTotal })
    for (const snap of snaps) {
      const where = (path: string) => `${path} in snapshot ${snap.id}`
      const root = fromHex(snap.tree)
      if (!index.has(BlobType.Tree, root)) {
        problem('blob-missing', `tree ${snap.tree}`, `the root tree ${snap.tree} of snapshot ${snap.id} is in no index`)
        visited.add(snap.tree)
        continue
      }
      // Paths are made only for messages: from each tree's parent chain, not for every node walked.
      const stack: Place[] = [{ id: root }]
      while (stack.length > 0) {
        throwIfAborted(walkSignal, 'check')
        await pacer.maybe()
        const place = stack.pop()!
        const { id } = place
        const hex = toHex(id)
        if (visited.has(hex)) continue
        visited.add(hex)
        const loc = index.get(BlobType.Tree, id)
        if (!loc) {
          problem('blob-missing', `tree ${hex}`, `tree ${hex} of ${where(pathOf(place))} is in no index`)
          continue
        }
        const tree = await trees.load(id, loc)
        if (typeof tree === 'string') {
          problem('tree-unreadable', `tree ${hex}`, `tree ${hex} (${where(pathOf(place))}) cannot be read: ${tree}`)
          continue
        }
        counts.trees++
        onProgress?.({ phase: 'trees', done: ++done, total: treeTotal })
        const children: Place[] = []
        for (let j = 0; j < tree.nodes.length; j++) {
          const node = tree.nodes[j]
          if (node.type === 'dir' && node.subtree) children.push({ id: node.subtree, parent: place, name: node.name })
          else if (node.type === 'file' && node.content) {
            const content = node.content
            const n = content.length / ID_BYTES
            let sum = 0
            let complete = true
            for (let k = 0; k < n; k++) {
              const at = index.findAt(BlobType.Data, content, k * ID_BYTES)
              if (at >= 0) {
                sum += index.rawLengthAt(at)
                // Which length is right is unknown for a conflicted blob (already reported).
                if (conflicted.size > 0 && conflicted.has(`${BlobType.Data}:${toHex(content.subarray(k * ID_BYTES, (k + 1) * ID_BYTES))}`)) complete = false
                continue
              }
              complete = false
              const b = toHex(content.subarray(k * ID_BYTES, (k + 1) * ID_BYTES))
              if (missingData.has(b)) continue
              missingData.add(b)
              problem('blob-missing', `blob ${b}`, `data blob ${b} (part ${k + 1} of ${n} of ${where(pathOf(place, node.name))}) is in no index`)
            }
            if (complete && sum !== node.size) problem('file-size', `tree ${hex}`, `${where(pathOf(place, node.name))} has size ${node.size} but its blobs hold ${sum} bytes`)
          }
        }
        // Depth-first in name order: push in reverse so the first name is walked first.
        for (let i = children.length - 1; i >= 0; i--) stack.push(children[i])
      }
    }
    trees.clear()
  }
  const [, dataChecked] = await Promise.allSettled([walk().catch(fail), data])
  if (failure) throw failure.error
  if (dataChecked?.status === 'fulfilled' && dataChecked.value) problems.push(...dataChecked.value)

  return {
    ok: !problems.some((p) => !WARNING_KINDS.has(p.kind)),
    problems,
    counts,
    requests: countsSince(repo.requests(), before),
    durationMs: performance.now() - started,
  }
}

async function listNames(repo: Repository, type: 'index' | 'snapshots'): Promise<string[]> {
  const names: string[] = []
  for await (const f of repo.backend.list(type)) names.push(f.name)
  return names
}

/** Sorts problems[from..] by object, so results of parallel loads come out in a stable order. */
function sortSection(problems: Problem[], from: number): void {
  const tail = problems.splice(from).sort((a, b) => (a.object < b.object ? -1 : a.object > b.object ? 1 : 0))
  problems.push(...tail)
}

// ---- trees ---------------------------------------------------------------------------------------

/** A tree as the walk reached it: its id, and the folder it is in with its name there (not the root). */
interface Place {
  id: Uint8Array
  parent?: Place
  name?: Uint8Array
}

/** The path of a place in its snapshot ("/" for the root), or of `name` in it. */
function pathOf(place: Place, name?: Uint8Array): string {
  const names: Uint8Array[] = name ? [name] : []
  for (let p: Place | undefined = place; p?.name; p = p.parent) names.push(p.name)
  return `/${names
    .reverse()
    .map((n) => Buffer.from(n).toString())
    .join('/')}`
}

/**
 * Reads tree blobs through the check's own index (the repository's would refuse to load at all when
 * one index file is damaged). Tree packs are loaded whole and kept in a bounded cache, since a walk
 * reads many trees of each.
 */
class TreeReader {
  private readonly cache = new LRUCache<string, Uint8Array>({ maxSize: TREE_PACK_CACHE, sizeCalculation: (b) => Math.max(1, b.length) })

  constructor(
    private readonly repo: Repository,
    /** Files in data/ with their sizes. */
    private readonly stored: Map<string, number>,
  ) {}

  /** The tree, or why it cannot be read. Storage failures are thrown. */
  async load(id: Uint8Array, loc: BlobLocation): Promise<Tree | string> {
    const name = toHex(loc.packId)
    const size = this.stored.get(name)
    if (size === undefined) return `its pack ${name} is missing`
    const end = loc.offset + loc.length
    if (end > size) return `it lies at ${loc.offset}+${loc.length}, beyond the end of its pack ${name} (${size} bytes)`
    let sealed: Uint8Array
    try {
      if (size <= WHOLE_TREE_PACK) {
        let pack = this.cache.get(name)
        if (!pack) {
          pack = await this.repo.backend.load({ type: 'data', name })
          this.cache.set(name, pack)
        }
        if (end > pack.length) return `it lies beyond the end of its pack ${name}`
        sealed = pack.subarray(loc.offset, end)
      } else {
        sealed = await this.repo.backend.load({ type: 'data', name }, { offset: loc.offset, length: loc.length })
      }
    } catch (e) {
      if (e instanceof ObjectNotFoundError) return `its pack ${name} is missing`
      throw e
    }
    let plain: Uint8Array
    try {
      plain = this.repo.openBlob(BlobType.Tree, id, sealed, loc.rawLength, loc.codec, loc.packId)
    } catch (e) {
      if (e instanceof CorruptObjectError) return `${reasonOf(e)} (in pack ${name})`
      throw e
    }
    try {
      const tree = decodeTree(plain)
      for (let k = 0; k < tree.nodes.length; k++) {
        const n = tree.nodes[k]
        const bad = unsafeName(n.name)
        if (bad) throw new Error(`a node name ${JSON.stringify(Buffer.from(n.name).toString())} ${bad}`)
      }
      return tree
    } catch (e) {
      return (e as Error).message
    }
  }

  clear(): void {
    this.cache.clear()
  }
}

function unsafeName(name: Uint8Array): string | undefined {
  if (name.length === 0) return 'is empty'
  if (name.length <= 2 && name.every((c) => c === 0x2e)) return 'is a dot name'
  if (name.includes(0x2f)) return 'contains a slash'
  if (name.includes(0)) return 'contains a NUL byte'
  return undefined
}

// ---- data ----------------------------------------------------------------------------------------

interface DataCheck {
  packNames: string[]
  /** Files in data/ with their sizes. */
  stored: Map<string, number>
  packs: Map<string, IndexedPack>
  subset: DataSubset | undefined
  /** Its packsRead and bytesRead are counted here. */
  counts: CheckCounts
  threads: number | undefined
  signal: AbortSignal
  onProgress: CheckOptions['onProgress']
}

/**
 * Reads the selected packs in order (reading ahead into a ring buffer) and verifies their hash,
 * header and every blob. Returns the problems found, in pack order; failures of the storage (and
 * aborts) are thrown.
 */
async function checkData(repo: Repository, { packNames, stored, packs, subset, counts, threads: wanted, signal, onProgress }: DataCheck): Promise<Problem[]> {
  const problems: Problem[] = []
  const problem = (kind: ProblemKind, object: string, message: string, about?: Pick<Problem, 'pack' | 'intact'>) => problems.push({ kind, object, message, ...about })
  let done = 0
  const present = packNames.filter((n) => stored.has(n))
  const selected = selectPacks(present, subset)
  onProgress?.({ phase: 'data', done, total: selected.length })
  let toRead = 0
  let largest = 0
  for (const n of selected) {
    toRead += stored.get(n) ?? 0
    largest = Math.max(largest, stored.get(n) ?? 0)
  }
  const threads = wanted ?? defaultOpenThreads(toRead)
  const pool = threads > 0 ? new BlobOpenPool(repo.keys, threads) : undefined
  const alloc = bufferAllocator(pool)
  const opener: Opener = { repo, pool, scratch: {}, garbage: new YoungGarbage(4 * 1024 * 1024), pacer: new Pacer() }
  // Packs are read ahead into one ring buffer (shared memory with workers, which open blobs straight
  // out of it) while earlier ones are verified: as many as fit in twice the largest pack, up to
  // READ_AHEAD, and each pack's bytes are given back once its blobs are all opened. With two
  // buffers, one pack each, a worker that finished a small pack waited for this thread to read the
  // next, and this thread, walking trees between, was slow to (check of a repository with a
  // history: 21 packs, most under 1 MB, worker busy 30-50% of the time). The same memory serves
  // every pack: fresh buffers cost page faults on every pack. Without a buffer to read into nor
  // workers, the ring only counts the bytes read ahead (its memory is never touched then).
  const ring = new ByteRing(alloc(2 * Math.max(largest, 1)))
  // Set when this check ends, early or not: a read waiting for room then starts no download.
  let stopped = false
  const fetchPack = async (name: string): Promise<{ name: string; bytes?: Uint8Array; region?: Region }> => {
    const size = stored.get(name) ?? 0
    const region = await ring.take(size)
    if (stopped) {
      region.release()
      return { name }
    }
    try {
      if (repo.backend.loadInto) {
        try {
          await repo.backend.loadInto({ type: 'data', name }, { offset: 0, length: size }, region.bytes)
          return { name, bytes: region.bytes, region }
        } catch (e) {
          // Shorter than listed (changed meanwhile): read it whole, and let the checks below say so.
          if (!(e instanceof BackendError && /beyond the end/.test(e.message))) throw e
        }
      }
      const bytes = await repo.backend.load({ type: 'data', name })
      if (!pool) return { name, bytes, region }
      // Into shared memory, for the workers.
      if (bytes.length <= region.bytes.length) {
        region.bytes.set(bytes)
        return { name, bytes: region.bytes.subarray(0, bytes.length), region }
      }
      const own = alloc(bytes.length)
      own.set(bytes)
      return { name, bytes: own, region }
    } catch (e) {
      region.release()
      if (e instanceof ObjectNotFoundError) return { name }
      throw e
    }
  }
  // A pack's last batches may still be on the worker while this thread starts on the next one.
  // Problems are reported in pack order.
  const fetches: Array<Promise<{ name: string; bytes?: Uint8Array; region?: Region }>> = []
  const fetchAhead = (k: number) => {
    if (k >= selected.length || k < fetches.length) return
    fetches[k] = fetchPack(selected[k])
    fetches[k].catch(() => {}) // awaited in order below
  }
  const rests: Array<Promise<void>> = []
  let reported: Promise<void> = Promise.resolve()
  try {
    for (let k = 0; k < READ_AHEAD; k++) fetchAhead(k)
    for (let i = 0; i < selected.length; i++) {
      throwIfAborted(signal, 'check')
      const cur = await fetches[i]
      fetchAhead(i + READ_AHEAD)
      const pack = packs.get(cur.name)!
      const found: Array<Parameters<Report>> = []
      let rest: Promise<void> = Promise.resolve()
      if (!cur.bytes) {
        found.push(['pack-missing', `pack ${cur.name}`, `pack ${cur.name} disappeared while the repository was being checked`])
      } else {
        counts.packsRead++
        counts.bytesRead += cur.bytes.length
        ;({ rest } = await verifyPack(opener, cur.name, pack, cur.bytes, (...p) => found.push(p)))
      }
      rests.push(rest)
      void rest.finally(() => cur.region?.release()).catch(() => {})
      reported = Promise.all([reported, rest]).then(() => {
        for (const [kind, object, message, intact] of found) problem(kind, object, message, intact ? { pack: cur.name, intact } : { pack: cur.name })
      })
      pack.blobs = []
      onProgress?.({ phase: 'data', done: ++done, total: selected.length })
    }
    await reported
  } finally {
    stopped = true
    reported.catch(() => {})
    await Promise.allSettled(rests)
    await pool?.close()
  }
  return problems
}

/** `intact`: see Problem.intact. */
type Report = (kind: ProblemKind, object: string, message: string, intact?: boolean) => void

/** What verifyPack opens blobs with. */
interface Opener {
  repo: Repository
  pool?: BlobOpenPool
  /** Reused to open blobs into on this thread (their plaintext is only checked, never kept). */
  scratch: { buf?: Buffer }
  garbage: YoungGarbage
  /** Gives the event loop a turn between blobs opened here. */
  pacer: Pacer
}


/**
 * Verifies one whole pack: its name, its header against the index, and every blob in it. Blobs go in
 * batches to a worker when one has room, else they are opened here. Returns once this thread's part
 * is done, with `rest`: the batches still on the worker, then the pack's problems reported. The
 * pack's buffer may be reused once `rest` settles.
 */
async function verifyPack(op: Opener, name: string, pack: IndexedPack, bytes: Uint8Array, report: Report): Promise<{ rest: Promise<void> }> {
  const { repo } = op
  // Problems come out in this order: name, header, blobs. A damaged name or header with every blob
  // the index lists opening intact (`intact`) loses nothing: the blobs can be written anew.
  const later: Array<Parameters<Report>> = []
  const problem: Report = (...p) => later.push(p)
  let intactPossible = true
  // The name first: new packs are named by their trailer (cheap), older ones by all their bytes.
  if (!packNameMatches(name, bytes)) {
    problem('pack-hash', `pack ${name}`, `pack ${name} matches its name neither by the SHA-256 of its trailer nor by that of all its bytes: its bytes changed since it was written`)
  }

  const header = readHeader(repo, bytes)
  // Blobs to open: the header's when it is readable, else the index's.
  type Blob = { type: BlobType; id: Uint8Array; offset: number; length: number; raw: number; codec: number }
  let blobs: Blob[]
  if (typeof header === 'string') {
    problem('pack-header', `pack ${name}`, `the header of pack ${name} cannot be read: ${header}`)
    blobs = pack.blobs.map(([type, id, offset, length, raw, codec]) => ({ type, id, offset, length, raw, codec }))
  } else {
    const { file, blobsEnd } = header
    blobs = []
    let offset = 0
    // Indexed rather than destructured: array destructuring in a loop that V8 has not optimised
    // allocates an iterator result per element (megabytes over a check's packs).
    for (let k = 0; k < file.blobs.length; k++) {
      const e = file.blobs[k]
      blobs.push({ type: e[0], id: e[1], offset, length: e[2], raw: e[3], codec: e[4] })
      offset += e[2]
    }
    const mismatches: string[] = []
    if (offset !== blobsEnd) mismatches.push(`its blobs take ${offset} bytes but the header starts at ${blobsEnd}`)
    if (file.scheme !== pack.scheme || file.keyId !== pack.keyId) mismatches.push(`the header has key scheme ${file.scheme}/${file.keyId}, the index ${pack.scheme}/${pack.keyId}`)
    // The header's blobs by (type, id, offset). Offsets alone tell them apart (each blob takes bytes)
    // unless a header says a blob takes none: then by all three, as text.
    const byOffset = new Map<number | string, Blob>()
    for (const b of blobs) byOffset.set(b.offset, b)
    const unique = byOffset.size === blobs.length
    const keyOf = (type: BlobType, id: Uint8Array, off: number): number | string => (unique ? off : `${type}:${toHex(id)}:${off}`)
    const inHeader = unique ? byOffset : new Map(blobs.map((b) => [keyOf(b.type, b.id, b.offset), b]))
    const matched = new Set<number | string>()
    for (let k = 0; k < pack.blobs.length; k++) {
      const e = pack.blobs[k]
      const type = e[0]
      const id = e[1]
      const off = e[2]
      const length = e[3]
      const raw = e[4]
      const codec = e[5]
      const key = keyOf(type, id, off)
      let h = inHeader.get(key)
      if (h && (h.type !== type || Buffer.compare(h.id, id) !== 0)) h = undefined
      if (!h) mismatches.push(`the index lists ${blobObject(type, id)} at offset ${off}, the header does not`)
      else {
        if (h.length !== length || h.raw !== raw || h.codec !== codec) {
          mismatches.push(`${blobObject(type, id)} at offset ${off} is ${h.length}/${h.raw} bytes, codec ${h.codec} in the header but ${length}/${raw}, codec ${codec} in the index`)
        }
        matched.add(key)
      }
    }
    for (const [key, b] of inHeader) if (!matched.has(key)) mismatches.push(`the header lists ${blobObject(b.type, b.id)} at offset ${b.offset}, the index does not`)
    if (mismatches.length > 0) {
      // The blobs opened below are then the header's, not the index's: nothing is said of those.
      intactPossible = false
      const more = mismatches.length > 1 ? ` (and ${mismatches.length - 1} more difference(s))` : ''
      problem('pack-header', `pack ${name}`, `pack ${name} does not match its index: ${mismatches[0]}${more}`)
    }
  }

  const packId = Buffer.from(name, 'hex')
  // Corrupt blobs are reported in pack order, however the batches finish.
  const found: Array<{ b: Blob; reason: string }> = []
  const corrupt = (b: Blob, reason: string) => found.push({ b, reason })
  const reportBlobs = () => {
    const intact = intactPossible && found.length === 0
    for (const [kind, object, message] of later.splice(0)) report(kind, object, message, intact && (kind === 'pack-hash' || kind === 'pack-header'))
    for (const { b, reason } of found.sort((x, y) => x.b.offset - y.b.offset)) {
      report('blob-corrupt', blobObject(b.type, b.id), `${blobObject(b.type, b.id)} at offset ${b.offset} in pack ${name} is corrupt: ${reason}`)
    }
  }
  const openHere = (b: Blob) => {
    try {
      const scratch = op.scratch
      if (!scratch.buf || scratch.buf.length < b.length) scratch.buf = Buffer.allocUnsafeSlow(Math.max(b.length, repo.config.chunker.max + BLOB_OVERHEAD))
      repo.openBlob(b.type, b.id, bytes.subarray(b.offset, b.offset + b.length), b.raw, b.codec, packId, scratch.buf)
    } catch (e) {
      if (!(e instanceof CorruptObjectError)) throw e
      corrupt(b, reasonOf(e))
    }
    op.garbage.add(b.length)
  }
  const inPack: Blob[] = []
  for (const b of blobs) {
    if (b.offset + b.length > bytes.length) {
      intactPossible = false
      problem('blob-corrupt', blobObject(b.type, b.id), `${blobObject(b.type, b.id)} should lie at ${b.offset}+${b.length} in pack ${name}, beyond its end (${bytes.length} bytes)`)
    } else inPack.push(b)
  }
  const { pool } = op
  if (!pool || !isShared(bytes)) {
    for (const b of inPack) {
      openHere(b)
      await op.pacer.maybe()
    }
    reportBlobs()
    return { rest: Promise.resolve() }
  }
  const onWorkers: Array<Promise<void>> = []
  let i = 0
  while (i < inPack.length) {
    // A batch: blobs of at most BATCH_RAW_BYTES of plaintext together; a larger one goes alone, here.
    const large = inPack[i].raw > BATCH_RAW_BYTES
    if (large || !pool.hasRoom()) {
      openHere(inPack[i++])
      await yieldToEvents()
      continue
    }
    let j = i + 1
    let raw = inPack[i].raw
    while (j < inPack.length && inPack[j].raw <= BATCH_RAW_BYTES && raw + inPack[j].raw <= BATCH_RAW_BYTES) raw += inPack[j++].raw
    const batch = inPack.slice(i, j)
    // Only verified: the worker opens them into a buffer of its own (no output buffer).
    const opened = pool
      .open(
        bytes,
        batch.map((b) => b.id),
        batch.map((b) => [b.offset, b.length, b.raw, b.codec]),
      )
      .then(
        () => undefined,
        (e: unknown) => {
          if (!(e instanceof BlobOpenFailed)) throw e
          // The worker stops at the first blob that fails: report it, and open the rest here.
          corrupt(batch[e.index], e.message)
          for (const b of batch.slice(e.index + 1)) openHere(b)
        },
      )
    onWorkers.push(opened)
    i = j
  }
  return { rest: Promise.all(onWorkers).then(reportBlobs) }
}

/** The pack's header and where it starts, or why it cannot be read. */
function readHeader(repo: Repository, bytes: Uint8Array): { file: PackHeader; blobsEnd: number } | string {
  if (bytes.length < 4) return 'the pack is shorter than its header length field'
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const hlen = buf.readUInt32LE(buf.length - 4)
  if (hlen + 4 > buf.length) return `the header length ${hlen} is beyond the pack's ${buf.length} bytes`
  const blobsEnd = buf.length - 4 - hlen
  try {
    return { file: decodeObject(packHeaderSchema, openFile(repo.keys.encryption, 'pack-header', buf.subarray(blobsEnd, buf.length - 4))), blobsEnd }
  } catch (e) {
    return (e as Error).message
  }
}

