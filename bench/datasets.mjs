// Deterministic benchmark datasets, written under bench/.data/ (git-ignored) and reused when their
// manifest matches. Everything comes from fixed seeds: sizes, names and text from a seeded PRNG,
// random bytes from an AES-256-CTR key stream under a fixed key (one IV per file), so two machines
// generate byte-identical datasets. A dataset at scale 1 lives in bench/.data/<name>/, at any other
// scale in bench/.data/<name>-scale<s>/, so a quick smoke run does not delete the full-size copy.
//
//   node bench/datasets.mjs [mixed-1g|memory-50m|big-2g ...]    generate (or check) datasets
//   BENCH_SCALE=0.1 node bench/datasets.mjs                      a tenth of the size, for a quick run
//
// Datasets:
//   mixed-1g    ~1 GiB × scale: random binaries of 1 KiB–64 MiB (log-uniform sizes; the maximum is
//               capped at total/16 so small scales still get many files), compressible text (markdown,
//               pretty JSON, JSONL, logs), and ~30% duplicated content: exact copies of earlier files
//               (~15%) and files that share a large span of an earlier binary between fresh bytes
//               (~15%), spread over ~60 nested folders.
//   memory-50m  2,000 × scale files, 50 MB × scale: an agent's memory folder (markdown notes,
//               JSON facts and tasks, JSONL session logs).
//   big-2g      one file of 2*10^9 × scale bytes (a disk image / database dump): random segments
//               (50%), text segments (30%), repeats of earlier spans of the same file (15%) and zero
//               runs (5%), segment sizes log-uniform.
//   notes-16k   16,000 × scale files, ~200 MB × scale: a markdown documentation repository in ~1,000
//               nested folders (median 5 KiB, tail to 400 KiB; zstd ~3×), with an 8-step history.
//
// Edits (editDataset, undone by revertEdits): mixed-1g changes ~1% of its files in place, memory-50m
// gets a day's appends, big-2g gets ~20 small overwrites at seeded offsets, notes-16k takes one step
// of its history (60–250 files edited, added, deleted or renamed). Edit sets stack (the
// benchmark applies two before reverting) and are logged before they are made, so a killed run is
// undone at the next start.
import { createCipheriv, createHash } from 'node:crypto'
import { appendFileSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Bump when the generator's output changes, so old datasets are regenerated. */
const GEN_VERSION = 1
/** The same for big-2g alone (added later; its own number so the others stay valid). */
const BIG_VERSION = 1
const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB

// Absolute, so every program compared sees (and records) the dataset by the same absolute path.
export const DATA_ROOT = process.env.BENCH_DATA_DIR ? resolve(process.env.BENCH_DATA_DIR) : join(dirname(fileURLToPath(import.meta.url)), '.data')

export function benchScale() {
  const s = Number(process.env.BENCH_SCALE ?? '1')
  if (!Number.isFinite(s) || s <= 0 || s > 16) throw new Error(`BENCH_SCALE must be a number in (0, 16], not ${process.env.BENCH_SCALE}`)
  return s
}

// ---- randomness ---------------------------------------------------------------------------------

/** xoshiro128** seeded from SHA-256 of a string: fast, deterministic, good enough for layouts. */
export function rng(seed) {
  const h = createHash('sha256').update(String(seed)).digest()
  let a = h.readUInt32LE(0) | 0
  let b = h.readUInt32LE(4) | 0
  let c = h.readUInt32LE(8) | 0
  let d = h.readUInt32LE(12) | 0
  if ((a | b | c | d) === 0) a = 1
  const next = () => {
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9)
    const t = b << 9
    c ^= a
    d ^= b
    b ^= c
    a ^= d
    c ^= t
    d = rotl(d, 11)
    return (r >>> 0) / 4294967296
  }
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    /** Log-uniform in [lo, hi]. */
    logUniform: (lo, hi) => Math.floor(Math.exp(Math.log(lo) + next() * (Math.log(hi) - Math.log(lo)))),
    chance: (p) => next() < p,
  }
}

function rotl(x, k) {
  return (x << k) | (x >>> (32 - k))
}

const STREAM_KEY = createHash('sha256').update('session-sync-cloud bench random stream v1').digest()
const ZEROS = Buffer.alloc(16 * MiB)

/** A deterministic random byte stream (AES-256-CTR key stream), one per stream number. */
function randomStream(stream) {
  const iv = Buffer.alloc(16)
  iv.writeUInt32BE(Math.floor(stream / 2 ** 32), 0)
  iv.writeUInt32BE(stream >>> 0, 4)
  const cipher = createCipheriv('aes-256-ctr', STREAM_KEY, iv)
  return (n) => cipher.update(ZEROS.subarray(0, n))
}

// ---- text ---------------------------------------------------------------------------------------

const COMMON = 'the of and to a in is it that for on with as was at by this be are from or have an not but they which you were all we one can there their has more will when if so what about out up into them than some time only other new could after also use like how then two first these may any work such because most over well just need make file data user note agent memory session project task'.split(' ')
const SYLLABLES = 'ka ro ti men sa lo vi dar en ul mo ne ri ta po se li an ber co del fi gra hu in jo ke lu ma no or pe qui ra sto tu ve wa xi yo ze tion ment ing er al ous ly ble ist ize ure ant ent ive ic'.split(' ')

let WORDS
function words() {
  if (WORDS) return WORDS
  const r = rng('bench words v1')
  const set = new Set(COMMON)
  const out = [...COMMON]
  while (out.length < 4000) {
    let w = ''
    const n = r.int(1, 4)
    for (let i = 0; i < n; i++) w += r.pick(SYLLABLES)
    if (!set.has(w)) {
      set.add(w)
      out.push(w)
    }
  }
  WORDS = out
  return out
}

/** A Zipf-like word: index log-uniform over the list, so the first words are by far the most common. */
function word(r) {
  const w = words()
  return w[Math.floor(Math.exp(r.next() * Math.log(w.length + 1))) - 1]
}

function sentence(r, min = 6, max = 22) {
  const n = r.int(min, max)
  let s = word(r)
  s = s[0].toUpperCase() + s.slice(1)
  for (let i = 1; i < n; i++) s += (r.chance(0.08) ? ', ' : ' ') + word(r)
  return s + (r.chance(0.1) ? '?' : '.')
}

function paragraph(r) {
  const n = r.int(2, 7)
  let p = sentence(r)
  for (let i = 1; i < n; i++) p += ' ' + sentence(r)
  return p
}

function hex(r, n) {
  let s = ''
  while (s.length < n) s += ((r.next() * 4294967296) >>> 0).toString(16).padStart(8, '0')
  return s.slice(0, n)
}

function isoTime(r) {
  const t = Date.UTC(2025, 0, 1) + Math.floor(r.next() * 365 * 86400e3)
  return new Date(t).toISOString()
}

function markdownBlock(r) {
  const k = r.next()
  if (k < 0.12) return `## ${sentence(r, 2, 6).slice(0, -1)}\n`
  if (k < 0.25) {
    let s = ''
    for (let i = r.int(2, 6); i > 0; i--) s += `- ${sentence(r, 3, 12)}\n`
    return s
  }
  if (k < 0.3) {
    let s = '```ts\n'
    for (let i = r.int(2, 10); i > 0; i--) s += `${'  '.repeat(r.int(0, 3))}const ${word(r)} = ${word(r)}(${word(r)}, ${r.int(0, 999)})\n`
    return s + '```\n'
  }
  if (k < 0.34) return `> ${sentence(r)}\n`
  return paragraph(r) + '\n'
}

function jsonRecord(r) {
  return {
    id: hex(r, 12),
    name: `${word(r)} ${word(r)}`,
    kind: r.pick(['fact', 'preference', 'task', 'decision', 'contact', 'link']),
    tags: Array.from({ length: r.int(0, 4) }, () => word(r)),
    score: Math.round(r.next() * 1000) / 1000,
    created: isoTime(r),
    active: r.chance(0.7),
    text: sentence(r, 4, 30),
  }
}

function jsonlRecord(r) {
  return JSON.stringify({ ts: isoTime(r), session: hex(r, 8), role: r.pick(['user', 'assistant', 'tool', 'system']), turn: r.int(0, 400), content: r.chance(0.3) ? paragraph(r) : sentence(r, 3, 40) })
}

function logLine(r) {
  return `${isoTime(r)} ${r.pick(['INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'])} [${word(r)}] ${sentence(r, 3, 14)} id=${hex(r, 8)} ms=${r.int(0, 5000)}`
}

/** Text of one kind, exactly `size` bytes (ASCII). */
export function makeText(r, kind, size) {
  const parts = []
  let n = 0
  const push = (s) => {
    parts.push(s)
    n += s.length
  }
  if (kind === 'md') {
    push(`# ${sentence(r, 2, 6).slice(0, -1)}\n\n`)
    while (n < size) push(markdownBlock(r) + '\n')
  } else if (kind === 'json') {
    push('[\n')
    while (n < size) push(JSON.stringify(jsonRecord(r), null, 2) + ',\n')
  } else if (kind === 'jsonl') {
    while (n < size) push(jsonlRecord(r) + '\n')
  } else {
    while (n < size) push(logLine(r) + '\n')
  }
  return Buffer.from(parts.join(''), 'latin1').subarray(0, size)
}

// ---- writing ------------------------------------------------------------------------------------

function writeRandom(path, stream, size) {
  const next = randomStream(stream)
  const fd = openSync(path, 'w')
  try {
    for (let off = 0; off < size; ) {
      const n = Math.min(ZEROS.length, size - off)
      writeAll(fd, next(n))
      off += n
    }
  } finally {
    closeSync(fd)
  }
}

function writeAll(fd, buf) {
  let done = 0
  while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done)
}

function readRange(path, offset, length) {
  const buf = Buffer.allocUnsafe(length)
  const fd = openSync(path, 'r')
  try {
    let got = 0
    while (got < length) {
      const n = readSync(fd, buf, got, length - got, offset + got)
      if (n === 0) throw new Error(`short read of ${path}`)
      got += n
    }
  } finally {
    closeSync(fd)
  }
  return buf
}

/** Writes parts (Buffers, or { random: stream, length }) one after another. */
function writeParts(path, parts) {
  const fd = openSync(path, 'w')
  try {
    for (const p of parts) {
      if (Buffer.isBuffer(p)) writeAll(fd, p)
      else {
        const next = randomStream(p.random)
        for (let off = 0; off < p.length; ) {
          const n = Math.min(ZEROS.length, p.length - off)
          writeAll(fd, next(n))
          off += n
        }
      }
    }
  } finally {
    closeSync(fd)
  }
}

// ---- layouts ------------------------------------------------------------------------------------

function makeDirs(r, count, maxDepth) {
  const dirs = [{ path: '', depth: 0 }]
  const used = new Set()
  while (dirs.length < count + 1) {
    const parent = r.pick(dirs.filter((d) => d.depth < maxDepth))
    let name = word(r)
    if (r.chance(0.3)) name += `-${word(r)}`
    const path = parent.path ? `${parent.path}/${name}` : name
    if (used.has(path)) continue
    used.add(path)
    dirs.push({ path, depth: parent.depth + 1 })
  }
  return dirs.map((d) => d.path)
}

const BIN_EXT = ['bin', 'dat', 'img', 'tar', 'pack', 'sqlite']
const TEXT_KINDS = [
  ['md', 'md', 0.45],
  ['json', 'json', 0.3],
  ['jsonl', 'jsonl', 0.15],
  ['log', 'log', 0.1],
]

function pickKind(r, table) {
  let x = r.next()
  for (const [kind, ext, p] of table) {
    if (x < p) return [kind, ext]
    x -= p
  }
  return table[0].slice(0, 2)
}

/**
 * The plan of mixed-1g: a list of files, each with how to make it. Pure function of the scale.
 * ops: { op: 'random', stream } | { op: 'text', kind, seed } | { op: 'copy', from } |
 *      { op: 'span', parts: [{ random, length } | { from, offset, length }] }
 */
function planMixed(scale) {
  const r = rng(`mixed-1g v${GEN_VERSION}`)
  const total = Math.round(GiB * scale)
  const budget = { binary: Math.floor(total * 0.5), text: Math.floor(total * 0.2), copy: Math.floor(total * 0.15), span: Math.floor(total * 0.15) }
  const maxBinary = Math.min(64 * MiB, Math.max(64 * KiB, Math.floor(total / 16)))
  const dirs = makeDirs(r, Math.max(8, Math.round(60 * Math.min(1, Math.sqrt(scale)))), 4)
  let n = 0
  const name = (ext) => {
    const d = r.pick(dirs)
    const base = `${word(r)}-${String(n++).padStart(5, '0')}.${ext}`
    return d ? `${d}/${base}` : base
  }

  const unique = []
  for (let left = budget.binary; left >= KiB; ) {
    const size = Math.min(left, r.logUniform(KiB, maxBinary))
    unique.push({ kind: 'binary', size, op: { op: 'random' } })
    left -= size
  }
  for (let left = budget.text; left >= 256; ) {
    const size = Math.min(left, r.logUniform(256, 2 * MiB))
    const [kind] = pickKind(r, TEXT_KINDS)
    unique.push({ kind, size, op: { op: 'text', kind } })
    left -= size
  }
  // Shuffle binaries and text together, then name them (names depend on order).
  for (let i = unique.length - 1; i > 0; i--) {
    const j = Math.floor(r.next() * (i + 1))
    ;[unique[i], unique[j]] = [unique[j], unique[i]]
  }
  const files = []
  for (const f of unique) {
    const ext = f.kind === 'binary' ? r.pick(BIN_EXT) : TEXT_KINDS.find((k) => k[0] === f.kind)[1]
    const i = files.length
    if (f.op.op === 'random') f.op.stream = i
    else f.op.seed = `text ${i}`
    files.push({ path: name(ext), size: f.size, kind: f.kind, dup: 'none', ...f.op })
  }

  // Exact copies of earlier files (any kind), until the copy budget is spent.
  const uniqueCount = files.length
  for (let left = budget.copy, tries = 0; left >= KiB && tries < 100000; tries++) {
    const src = files[Math.floor(r.next() * uniqueCount)]
    if (src.size > left * 1.2) continue
    const ext = src.path.slice(src.path.lastIndexOf('.') + 1)
    files.push({ path: name(ext), size: src.size, kind: src.kind, dup: 'copy', op: 'copy', from: files.indexOf(src) })
    left -= src.size
  }

  // Files that share large spans of earlier binaries, with fresh bytes around them.
  const bigBinaries = files.slice(0, uniqueCount).filter((f) => f.kind === 'binary' && f.size >= Math.min(2 * MiB, maxBinary / 2))
  let stream = 1_000_000
  for (let left = budget.span; left >= 256 * KiB && bigBinaries.length > 0; ) {
    const parts = []
    let shared = 0
    const sources = r.chance(0.3) ? 2 : 1
    parts.push({ random: stream++, length: r.int(0, 256 * KiB) })
    for (let s = 0; s < sources && left - shared >= 256 * KiB; s++) {
      const src = r.pick(bigBinaries)
      const length = Math.min(left - shared, Math.floor(src.size * (0.4 + 0.6 * r.next())), 32 * MiB)
      const offset = r.int(0, src.size - length)
      parts.push({ from: files.indexOf(src), offset, length })
      shared += length
      if (s + 1 < sources) parts.push({ random: stream++, length: r.int(4 * KiB, 128 * KiB) })
    }
    parts.push({ random: stream++, length: r.int(0, 256 * KiB) })
    const size = parts.reduce((a, p) => a + p.length, 0)
    files.push({ path: name(r.pick(BIN_EXT)), size, kind: 'binary', dup: 'span', sharedBytes: shared, op: 'span', parts })
    left -= shared
  }
  return { files, dirs }
}

function planMemory(scale) {
  const r = rng(`memory-50m v${GEN_VERSION}`)
  const count = Math.max(20, Math.round(2000 * scale))
  const total = Math.round(50e6 * scale)
  const topics = Array.from({ length: 12 }, () => word(r))
  const projects = Array.from({ length: 8 }, () => `${word(r)}-${word(r)}`)
  const months = ['2025-01', '2025-02', '2025-03', '2025-04', '2025-05', '2025-06', '2025-07', '2025-08', '2025-09', '2025-10']
  const files = []
  const names = new Set()
  for (let i = 0; i < count; i++) {
    const k = r.next()
    let path
    let kind
    let weight
    if (i === 0) {
      path = 'MEMORY.md'
      kind = 'md'
      weight = 8 * KiB
    } else if (k < 0.45) {
      path = `notes/${r.pick(topics)}/${word(r)}-${word(r)}.md`
      kind = 'md'
      weight = r.logUniform(400, 64 * KiB)
    } else if (k < 0.6) {
      const p = r.pick(projects)
      path = `projects/${p}/${r.pick(['notes', 'decisions', 'design', 'todo', 'log'])}-${word(r)}.md`
      kind = 'md'
      weight = r.logUniform(400, 64 * KiB)
    } else if (k < 0.8) {
      path = `${r.pick(['facts', 'people', 'preferences', `projects/${r.pick(projects)}/tasks`])}/${word(r)}-${hex(r, 6)}.json`
      kind = 'json'
      weight = r.logUniform(300, 32 * KiB)
    } else {
      path = `sessions/${r.pick(months)}/${hex(r, 16)}.jsonl`
      kind = 'jsonl'
      weight = r.logUniform(4 * KiB, 2 * MiB)
    }
    if (names.has(path)) {
      i--
      continue
    }
    names.add(path)
    files.push({ path, kind, weight, dup: 'none', op: 'text', seed: `memory ${i}` })
  }
  const sum = files.reduce((a, f) => a + f.weight, 0)
  let left = total
  for (const [i, f] of files.entries()) {
    f.size = i === files.length - 1 ? Math.max(64, left) : Math.max(64, Math.round((f.weight * total) / sum))
    left -= f.size
    delete f.weight
  }
  return { files, dirs: [] }
}

/**
 * The plan of big-2g: one file of segments. Each segment's kind is drawn in proportion to what is
 * left of its byte budget (random 50%, text 30%, repeats 15%, zeros 5%), its length log-uniform, so
 * the file mixes incompressible, compressible and internally duplicated stretches at unaligned
 * offsets, like a disk image or a database dump.
 * segments: { random: stream, length } | { text: kind, seed, length } | { from: offset, length } | { zero: true, length }
 */
function planBig(scale) {
  const r = rng(`big-2g v${BIG_VERSION}`)
  const total = Math.round(2e9 * scale)
  const budget = { random: total * 0.5, text: total * 0.3, repeat: total * 0.15, zero: total * 0.05 }
  const lengths = { random: [64 * KiB, 32 * MiB], text: [16 * KiB, 8 * MiB], repeat: [64 * KiB, 16 * MiB], zero: [64 * KiB, 16 * MiB] }
  const bytes = { random: 0, text: 0, repeat: 0, zero: 0 }
  const segments = []
  let written = 0
  let stream = 2_000_000
  while (written < total) {
    const open = Object.keys(budget).filter((k) => budget[k] >= 4 * KiB && (k !== 'repeat' || written >= 64 * KiB))
    let kind = 'random'
    let x = r.next() * open.reduce((a, k) => a + budget[k], 0)
    for (const k of open) {
      kind = k
      if ((x -= budget[k]) < 0) break
    }
    const [lo, hi] = lengths[kind]
    let length = Math.min(r.logUniform(lo, hi), total - written)
    if (open.length > 0) length = Math.min(length, Math.ceil(budget[kind]))
    if (kind === 'repeat') length = Math.min(length, written)
    if (kind === 'random') segments.push({ random: stream++, length })
    else if (kind === 'text') segments.push({ text: pickKind(r, TEXT_KINDS)[0], seed: `big text ${segments.length}`, length })
    else if (kind === 'repeat') segments.push({ from: r.int(0, written - length), length })
    else segments.push({ zero: true, length })
    budget[kind] -= length
    bytes[kind] += length
    written += length
  }
  const composition = { randomBytes: bytes.random, textBytes: bytes.text, repeatBytes: bytes.repeat, zeroBytes: bytes.zero, segments: segments.length, duplicatedFraction: Math.round((bytes.repeat / total) * 1000) / 1000 }
  return { files: [{ path: 'disk.img', size: total, kind: 'mixed', dup: 'none', op: 'segments', segments }], composition }
}


// ---- notes-16k: a markdown documentation repository -------------------------------------------

/** Bump when notes-16k's output (files or history) changes. */
const NOTES_VERSION = 3

/** A word of a page: Zipf-like over the 2,500 most common words, steeper than `word` (prose repeats itself). */
function noteWord(r) {
  const w = words()
  return w[Math.floor(Math.exp(r.next() ** 2.2 * Math.log(2501))) - 1]
}

function noteSentence(r, min = 5, max = 20) {
  const n = r.int(min, max)
  let s = noteWord(r)
  s = s[0].toUpperCase() + s.slice(1)
  for (let i = 1; i < n; i++) s += (r.chance(0.08) ? ', ' : ' ') + noteWord(r)
  return s + (r.chance(0.1) ? '?' : '.')
}

/** Boilerplate and prose shared by many pages (a docs repository repeats its notes, includes, footers and phrasing). */
let NOTES_POOL
function notesPool() {
  if (NOTES_POOL) return NOTES_POOL
  const r = rng(`notes pool v${NOTES_VERSION}`)
  const callouts = Array.from({ length: 60 }, () => `> [!${r.pick(['NOTE', 'TIP', 'IMPORTANT', 'WARNING', 'CAUTION'])}]\n> ${noteSentence(r, 8, 26)} ${noteSentence(r, 6, 18)}\n`)
  const snippets = Array.from({ length: 240 }, () => {
    const lang = r.pick(['bash', 'json', 'yaml', 'ts', 'python', 'powershell'])
    let s = '```' + lang + '\n'
    for (let i = r.int(3, 14); i > 0; i--) {
      if (lang === 'bash' || lang === 'powershell') s += `${r.pick(['az', 'kubectl', 'npm', 'git', 'docker'])} ${noteWord(r)} ${r.pick(['create', 'list', 'show', 'update', 'delete'])} --${noteWord(r)} ${noteWord(r)}-${hex(r, 4)}\n`
      else if (lang === 'json') s += `${'  '.repeat(r.int(1, 3))}"${noteWord(r)}": "${noteWord(r)}-${r.int(0, 99)}",\n`
      else if (lang === 'yaml') s += `${'  '.repeat(r.int(0, 3))}${noteWord(r)}: ${noteWord(r)}\n`
      else s += `${'  '.repeat(r.int(0, 3))}${lang === 'ts' ? 'const ' : ''}${noteWord(r)} = ${noteWord(r)}(${noteWord(r)}, ${r.int(0, 999)})\n`
    }
    return s + '```\n'
  })
  const footers = Array.from({ length: 12 }, () => {
    let s = `## ${r.pick(['Next steps', 'Related content', 'See also', 'Feedback'])}\n\n`
    for (let i = r.int(2, 5); i > 0; i--) s += `- [${noteSentence(r, 2, 6).slice(0, -1)}](../${noteWord(r)}/${noteWord(r)}-${noteWord(r)}.md)\n`
    return s
  })
  const authors = Array.from({ length: 150 }, () => `${noteWord(r)}${r.int(1, 99)}`)
  // Stock sentences: most prose is drawn from these (fast to generate, and phrasing repeats as in real docs).
  const sentences = Array.from({ length: 40000 }, () => noteSentence(r))
  NOTES_POOL = { callouts, snippets, footers, authors, sentences }
  return NOTES_POOL
}

/** A paragraph of 2–7 sentences: most from the page's own stock (a page repeats its phrasing), some from the shared stock, a few fresh. */
function notePara(r, pool, own) {
  let p = ''
  for (let i = r.int(2, 7); i > 0; i--) {
    const k = r.next()
    p += (p ? ' ' : '') + (k < 0.55 ? r.pick(own) : k < 0.9 ? r.pick(pool.sentences) : noteSentence(r))
  }
  return p
}

/** A markdown page of about `size` bytes (exactly `size`, ASCII): front matter, sections, links, code. */
export function makeNote(r, size, paths) {
  const pool = notesPool()
  const parts = []
  let n = 0
  const push = (s) => {
    parts.push(s)
    n += s.length
  }
  // A page links to a few others again and again, as pages of one area do.
  const near = Array.from({ length: 6 }, () => r.pick(paths))
  const own = Array.from({ length: 4 + (size >> 9) }, () => r.pick(pool.sentences))
  const title = noteSentence(r, 2, 7).slice(0, -1)
  push(`---\ntitle: ${title}\ndescription: ${noteSentence(r, 6, 16)}\nauthor: ${r.pick(pool.authors)}\nms.author: ${r.pick(pool.authors)}\nms.service: ${noteWord(r)}\nms.topic: ${r.pick(['conceptual', 'how-to', 'tutorial', 'reference', 'quickstart', 'troubleshooting'])}\nms.date: ${isoTime(r).slice(0, 10)}\n---\n\n# ${title}\n\n`)
  push(notePara(r, pool, own) + '\n\n')
  while (n < size) {
    const k = r.next()
    if (k < 0.14) push(`## ${noteSentence(r, 2, 6).slice(0, -1)}\n\n`)
    else if (k < 0.22) push(r.pick(pool.callouts) + '\n')
    else if (k < 0.32) push(r.pick(pool.snippets) + '\n')
    else if (k < 0.44) {
      let s = ''
      for (let i = r.int(2, 7); i > 0; i--) s += r.chance(0.4) ? `- [${noteSentence(r, 2, 5).slice(0, -1)}](/${r.pick(near)})\n` : `- ${noteSentence(r, 3, 12)}\n`
      push(s + '\n')
    } else if (k < 0.49) {
      let s = `| ${noteWord(r)} | ${noteWord(r)} | ${noteWord(r)} |\n|---|---|---|\n`
      for (let i = r.int(2, 8); i > 0; i--) s += `| \`${noteWord(r)}\` | ${noteSentence(r, 2, 8)} | ${r.pick(['Yes', 'No', 'Optional'])} |\n`
      push(s + '\n')
    } else {
      let p = notePara(r, pool, own)
      if (r.chance(0.35)) p += ` For more information, see [${noteSentence(r, 2, 5).slice(0, -1)}](${r.pick(near)}).`
      push(p + '\n\n')
    }
    if (n < size && size - n < 400) push(r.pick(pool.footers))
  }
  return Buffer.from(parts.join(''), 'latin1').subarray(0, size)
}

/**
 * The plan of notes-16k: 16,000 × scale pages in nested folders (a docs repository: ~85% markdown,
 * the rest YAML tables of contents and JSON), sizes log-normal around a median of 5 KiB with a long
 * tail capped at 400 KiB.
 */
function planNotes(scale) {
  const r = rng(`notes-16k v${NOTES_VERSION}`)
  const count = Math.max(40, Math.round(16000 * scale))
  const dirs = makeDirs(r, Math.max(4, Math.round(count / 16)), 5)
  const files = []
  const names = new Set()
  while (files.length < count) {
    const d = r.pick(dirs)
    const k = r.next()
    const ext = k < 0.86 ? 'md' : k < 0.94 ? 'yml' : 'json'
    const base = ext === 'yml' && r.chance(0.5) ? 'toc.yml' : `${word(r)}-${word(r)}${r.chance(0.3) ? `-${word(r)}` : ''}.${ext}`
    const path = d ? `${d}/${base}` : base
    if (names.has(path)) continue
    names.add(path)
    // Log-normal: median 5 KiB, sigma 1.35 (Box–Muller), 120 B – 400 KiB.
    const g = Math.sqrt(-2 * Math.log(1 - r.next())) * Math.cos(2 * Math.PI * r.next())
    const size = Math.max(120, Math.min(400 * KiB, Math.round(5 * KiB * Math.exp(1.35 * g))))
    files.push({ path, size, kind: ext, dup: 'none', op: 'notes', seed: `note ${files.length}` })
  }
  return { files, dirs }
}

/** Contents of one notes-16k file (markdown page, YAML table of contents or JSON). */
function notesFile(seed, kind, size, paths) {
  const r = rng(`notes-16k ${seed}`)
  if (kind === 'md') return makeNote(r, size, paths)
  if (kind === 'json') return makeText(r, 'json', size)
  const parts = []
  let n = 0
  while (n < size) {
    const s = `- name: ${noteSentence(r, 2, 6).slice(0, -1)}\n  href: ${r.pick(paths)}\n${r.chance(0.3) ? `  items:\n    - name: ${noteWord(r)} ${noteWord(r)}\n      href: ${r.pick(paths)}\n` : ''}`
    parts.push(s)
    n += s.length
  }
  return Buffer.from(parts.join(''), 'latin1').subarray(0, size)
}

export const DATASETS = {
  'mixed-1g': { plan: planMixed, version: GEN_VERSION, description: '~1 GiB: random binaries 1 KiB–64 MiB (log-uniform), text, ~30% duplicated content, nested folders' },
  'memory-50m': { plan: planMemory, version: GEN_VERSION, description: "2,000 files, 50 MB: an agent's memory folder (markdown, JSON, JSONL)" },
  'big-2g': { plan: planBig, version: BIG_VERSION, description: 'one 2 GB file: random, text, repeated and zero segments' },
  'notes-16k': { plan: planNotes, version: NOTES_VERSION, description: '16,000 files, ~200 MB: a markdown documentation repository (nested folders, median 5 KiB, tail to 400 KiB)' },
}

// ---- generation and reuse -----------------------------------------------------------------------

function manifestKey(name, scale) {
  return { name, version: DATASETS[name].version, scale }
}

function datasetPaths(name, scale) {
  const base = join(DATA_ROOT, scale === 1 ? name : `${name}-scale${scale}`)
  return { base, data: join(base, 'data'), manifest: join(base, 'manifest.json'), orig: join(base, 'edit-originals'), editLog: join(base, 'edit-originals.json') }
}

/** The manifest if the dataset on disk matches it (every file present with its size), else undefined. */
function loadValid(name, scale) {
  const p = datasetPaths(name, scale)
  if (!existsSync(p.manifest)) return undefined
  let m
  try {
    m = JSON.parse(readFileSync(p.manifest, 'utf8'))
  } catch {
    return undefined
  }
  if (JSON.stringify(m.key) !== JSON.stringify(manifestKey(name, scale))) return undefined
  for (const f of m.files) {
    try {
      if (statSync(join(p.data, f.path)).size !== f.size) return undefined
    } catch {
      return undefined
    }
  }
  return m
}

/** Writes big-2g's segments one after another; repeats are read back from the file being written. */
function writeSegments(path, segments) {
  const fd = openSync(path, 'w+')
  let pos = 0
  // Positional writes throughout: a positional read or write does not move the file position.
  const put = (buf) => {
    for (let done = 0; done < buf.length; ) done += writeSync(fd, buf, done, buf.length - done, pos + done)
    pos += buf.length
  }
  try {
    for (const s of segments) {
      for (let off = 0; off < s.length; ) {
        const n = s.text !== undefined ? s.length : Math.min(ZEROS.length, s.length - off)
        if (s.random !== undefined) put((s.next ??= randomStream(s.random))(n))
        else if (s.text !== undefined) put(makeText(rng(`big-2g ${s.seed}`), s.text, n))
        else if (s.from !== undefined) put(readRange(path, s.from + off, n))
        else put(ZEROS.subarray(0, n))
        off += n
      }
      delete s.next
    }
  } finally {
    closeSync(fd)
  }
  if (statSync(path).size !== pos) throw new Error(`${path}: wrote ${pos} bytes but the file has ${statSync(path).size}`)
}

/**
 * Returns the dataset's manifest, generating it first unless a matching one is on disk. The
 * manifest is written last, so an interrupted generation is redone.
 */
export function ensureDataset(name, scale = benchScale(), log = (s) => console.error(s)) {
  if (!DATASETS[name]) throw new Error(`unknown dataset ${name}; known: ${Object.keys(DATASETS).join(', ')}`)
  const p = datasetPaths(name, scale)
  revertEdits(name, scale)
  const existing = loadValid(name, scale)
  if (existing) {
    log(`dataset ${name} (scale ${scale}): reusing ${p.data} (${existing.files.length} files, ${(existing.totalBytes / 1e6).toFixed(1)} MB)`)
    return { ...existing, dir: p.data, reused: true }
  }
  const t0 = performance.now()
  log(`dataset ${name} (scale ${scale}): generating under ${p.data} ...`)
  rmSync(p.base, { recursive: true, force: true })
  mkdirSync(p.data, { recursive: true })
  const plan = DATASETS[name].plan(scale)
  const { files } = plan
  let notePaths
  for (const f of files) {
    const path = join(p.data, f.path)
    mkdirSync(dirname(path), { recursive: true })
    if (f.op === 'random') writeRandom(path, f.stream, f.size)
    else if (f.op === 'text') writeFileSync(path, makeText(rng(`${name} ${f.seed}`), f.kind, f.size))
    else if (f.op === 'copy') copyFileSync(join(p.data, files[f.from].path), path)
    else if (f.op === 'span') writeParts(path, f.parts.map((q) => (q.random !== undefined ? q : readRange(join(p.data, files[q.from].path), q.offset, q.length))))
    else if (f.op === 'segments') writeSegments(path, f.segments)
    else if (f.op === 'notes') writeFileSync(path, notesFile(f.seed, f.kind, f.size, (notePaths ??= files.filter((x) => x.kind === 'md').map((x) => x.path))))
    else throw new Error(`unknown op ${f.op}`)
  }
  const sum = (pred, field = 'size') => files.filter(pred).reduce((a, f) => a + (f[field] ?? 0), 0)
  const totalBytes = sum(() => true)
  const manifest = {
    key: manifestKey(name, scale),
    description: DATASETS[name].description,
    totalBytes,
    fileCount: files.length,
    dirCount: new Set(files.map((f) => dirname(f.path))).size,
    composition: {
      uniqueBinaryBytes: sum((f) => f.kind === 'binary' && f.dup === 'none'),
      uniqueTextBytes: sum((f) => f.kind !== 'binary' && f.dup === 'none'),
      copyBytes: sum((f) => f.dup === 'copy'),
      spanFileBytes: sum((f) => f.dup === 'span'),
      spanSharedBytes: sum((f) => f.dup === 'span', 'sharedBytes'),
    },
    generatedMs: Math.round(performance.now() - t0),
    files: files.map((f) => ({ path: f.path, size: f.size, kind: f.kind, dup: f.dup })),
  }
  manifest.composition.duplicatedFraction = Math.round(((manifest.composition.copyBytes + manifest.composition.spanSharedBytes) / totalBytes) * 1000) / 1000
  // big-2g's one file is neither binary nor text: its plan describes its own composition.
  if (plan.composition) manifest.composition = plan.composition
  writeFileSync(p.manifest + '.tmp', JSON.stringify(manifest))
  renameSync(p.manifest + '.tmp', p.manifest)
  log(`dataset ${name}: ${files.length} files, ${(totalBytes / 1e6).toFixed(1)} MB in ${(manifest.generatedMs / 1000).toFixed(1)} s`)
  return { ...manifest, dir: p.data, reused: false }
}

// ---- edits for the "re-backup after edits" figures ----------------------------------------------
//
// Every change is logged (edit-originals.json) and its original saved (edit-originals/) BEFORE it is
// made, so revertEdits can always undo it, even after a crash. Log entries, undone newest first:
//   { type: 'file', path, saved }                  the whole original file was saved
//   { type: 'new', path }                          a file that did not exist: deleted on revert
//   { type: 'range', path, offset, length, saved } the original bytes of one stretch were saved

function readEditLog(p) {
  if (!existsSync(p.editLog)) return { version: 2, entries: [] }
  const log = JSON.parse(readFileSync(p.editLog, 'utf8'))
  // Version 1 (before stacked edits) was a list of paths whose originals are edit-originals/<i>.
  return Array.isArray(log) ? { version: 2, entries: log.map((path, i) => ({ type: 'file', path, saved: String(i) })) } : log
}

/** Records one change in the log (written atomically) before the caller makes it. */
function logEdit(p, entry) {
  const log = readEditLog(p)
  log.entries.push(entry)
  writeFileSync(p.editLog + '.tmp', JSON.stringify(log))
  renameSync(p.editLog + '.tmp', p.editLog)
}

/** Saves a whole file's original and logs it; the caller then changes the file. */
function saveFile(p, rel) {
  mkdirSync(p.orig, { recursive: true })
  const saved = `f${readEditLog(p).entries.length}`
  copyFileSync(join(p.data, rel), join(p.orig, saved))
  logEdit(p, { type: 'file', path: rel, saved })
}

/**
 * Applies one set of edits on top of any not yet reverted (set 0, 1, ... each with its own seed, the
 * same in every run) and returns what changed: { files, newFiles, bytes (size of the touched files),
 * changedBytes (bytes written or inserted) }.
 */
export function editDataset(name, manifest, { fraction = 0.01, set = 0 } = {}) {
  const p = datasetPaths(name, manifest.key.scale)
  // Set 0 keeps the seed the benchmark always used, so mixed-1g's edits stay comparable over time.
  const r = rng(set === 0 ? `${name} edits v${GEN_VERSION}` : `${name} edits v${GEN_VERSION} set ${set}`)
  if (name === 'memory-50m') return dailyAppends(p, manifest, r, fraction)
  if (name === 'big-2g') return overwriteRanges(p, manifest, r)
  if (name === 'notes-16k') return notesStep(p, r)
  return editFiles(p, manifest, r, fraction)
}

/**
 * mixed-1g: about `fraction` of the files by count (seeded choice): text files get a paragraph
 * inserted in the middle, binaries get three 64-byte stretches overwritten.
 */
function editFiles(p, manifest, r, fraction) {
  const count = Math.max(1, Math.round(manifest.files.length * fraction))
  const chosen = new Set()
  while (chosen.size < count) chosen.add(Math.floor(r.next() * manifest.files.length))
  const edited = [...chosen].sort((a, b) => a - b).map((i) => manifest.files[i])
  let bytes = 0
  let changedBytes = 0
  for (const f of edited) {
    saveFile(p, f.path)
    const path = join(p.data, f.path)
    if (f.kind === 'binary') {
      const fd = openSync(path, 'r+')
      try {
        for (let k = 0; k < 3; k++) writeSync(fd, Buffer.from(hex(r, 128), 'hex'), 0, 64, r.int(0, Math.max(0, f.size - 64)))
      } finally {
        closeSync(fd)
      }
      changedBytes += 3 * 64
    } else {
      const old = readFileSync(path)
      const at = old.indexOf('\n', old.length >> 1) + 1 || old.length
      const insert = Buffer.from(`\n${paragraph(r)}\n\n`)
      writeFileSync(path, Buffer.concat([old.subarray(0, at), insert, old.subarray(at)]))
      changedBytes += insert.length
    }
    bytes += f.size
  }
  return { files: edited.length, newFiles: 0, bytes, changedBytes }
}

/** Text to append to a file of one kind: whole records or blocks, about `size` bytes. */
function appendix(r, kind, size) {
  const parts = []
  let n = 0
  while (n < size) {
    const s = kind === 'jsonl' ? jsonlRecord(r) + '\n' : kind === 'json' ? JSON.stringify(jsonRecord(r), null, 2) + ',\n' : '\n' + markdownBlock(r)
    parts.push(s)
    n += s.length
  }
  return Buffer.from(parts.join(''), 'latin1')
}

/**
 * memory-50m: a day of an agent's work. MEMORY.md and about `fraction` of the files (seeded, by
 * count) get records or paragraphs appended (512 B – 16 KiB each), and one new session log
 * (32–96 KiB) appears next to the newest month's logs.
 */
function dailyAppends(p, manifest, r, fraction) {
  const files = manifest.files
  const count = Math.max(1, Math.round(files.length * fraction))
  const chosen = new Set([files.findIndex((f) => f.path === 'MEMORY.md')].filter((i) => i >= 0))
  while (chosen.size < Math.min(count, files.length)) chosen.add(Math.floor(r.next() * files.length))
  let bytes = 0
  let changedBytes = 0
  for (const i of [...chosen].sort((a, b) => a - b)) {
    const f = files[i]
    saveFile(p, f.path)
    const add = appendix(r, f.kind, r.logUniform(512, 16 * KiB))
    appendFileSync(join(p.data, f.path), add)
    bytes += f.size
    changedBytes += add.length
  }
  // Into an existing folder, so reverting (deleting the file) leaves the tree exactly as it was.
  const months = files.filter((f) => f.path.startsWith('sessions/')).map((f) => dirname(f.path)).sort()
  const rel = months.length ? `${months.at(-1)}/${hex(r, 16)}.jsonl` : `session-${hex(r, 16)}.jsonl`
  logEdit(p, { type: 'new', path: rel })
  const log = appendix(r, 'jsonl', r.int(32 * KiB, 96 * KiB))
  writeFileSync(join(p.data, rel), log)
  changedBytes += log.length
  return { files: chosen.size, newFiles: 1, bytes, changedBytes }
}

/** Every file under a folder, relative, in a fixed (sorted) order. */
function listFiles(root) {
  const out = []
  const walk = (rel) => {
    for (const e of readdirSync(join(root, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = rel ? `${rel}/${e.name}` : e.name
      if (e.isDirectory()) walk(path)
      else out.push(path)
    }
  }
  walk('')
  return out
}

/**
 * notes-16k: one step of a repository's history (set 0..7: the benchmark's eight steps, stacked):
 * 60–250 files change, most by a small edit (a paragraph inserted, a line rewritten, a list item
 * added, a word replaced), 3–12 pages are added, 1–6 deleted and 1–6 renamed within their folder.
 * Drawn from the files on disk at the time (sorted), so the steps stack deterministically.
 */
function notesStep(p, r) {
  const files = listFiles(p.data)
  const mdPaths = files.filter((f) => f.endsWith('.md'))
  const total = r.int(60, 250)
  const adds = r.int(3, 12)
  const deletes = r.int(1, 6)
  const renames = r.int(1, 6)
  const chosen = new Set()
  while (chosen.size < total - adds) chosen.add(Math.floor(r.next() * files.length))
  const picked = [...chosen].map((i) => files[i])
  const pool = notesPool()
  let bytes = 0
  let changedBytes = 0
  const out = { files: total, newFiles: adds, deleted: deletes, renamed: renames }
  picked.forEach((rel, k) => {
    const path = join(p.data, rel)
    const old = readFileSync(path)
    bytes += old.length
    saveFile(p, rel)
    if (k < deletes) {
      rmSync(path)
      return
    }
    if (k < deletes + renames) {
      const to = `${dirname(rel) === '.' ? '' : `${dirname(rel)}/`}${noteWord(r)}-${noteWord(r)}-${hex(r, 4)}${rel.slice(rel.lastIndexOf('.'))}`
      logEdit(p, { type: 'new', path: to })
      renameSync(path, join(p.data, to))
      return
    }
    // A small edit at a line boundary.
    const text = old.toString('latin1')
    const at = text.indexOf('\n', r.int(0, Math.max(0, text.length - 1))) + 1 || text.length
    const kind = r.next()
    let next
    if (kind < 0.4) next = text.slice(0, at) + `\n${notePara(r, pool, pool.sentences)}\n` + text.slice(at)
    else if (kind < 0.65) {
      const end = text.indexOf('\n', at)
      next = text.slice(0, at) + noteSentence(r, 4, 18) + (end < 0 ? '' : text.slice(end))
    } else if (kind < 0.85) next = text.slice(0, at) + `- ${noteSentence(r, 3, 12)}\n` + text.slice(at)
    else {
      const w = noteWord(r)
      const i = text.indexOf(' ', at)
      next = i < 0 ? text + ` ${w}` : text.slice(0, i + 1) + w + ' ' + text.slice(i + 1)
    }
    writeFileSync(path, Buffer.from(next, 'latin1'))
    changedBytes += Math.abs(next.length - text.length) || 1
  })
  const dirs = [...new Set(files.map((f) => dirname(f)))].sort()
  for (let i = 0; i < adds; i++) {
    const d = r.pick(dirs)
    const rel = `${d === '.' ? '' : `${d}/`}${noteWord(r)}-${noteWord(r)}-${hex(r, 6)}.md`
    const g = Math.sqrt(-2 * Math.log(1 - r.next())) * Math.cos(2 * Math.PI * r.next())
    const page = makeNote(r, Math.max(120, Math.min(64 * KiB, Math.round(3 * KiB * Math.exp(g)))), mdPaths)
    logEdit(p, { type: 'new', path: rel })
    writeFileSync(join(p.data, rel), page)
    changedBytes += page.length
  }
  return { ...out, bytes, changedBytes }
}

/** big-2g: 20 stretches of 2–8 KiB at seeded offsets overwritten with fresh random bytes. */
function overwriteRanges(p, manifest, r) {
  const f = manifest.files[0]
  const path = join(p.data, f.path)
  mkdirSync(p.orig, { recursive: true })
  let changedBytes = 0
  const fd = openSync(path, 'r+')
  try {
    for (let k = 0; k < 20; k++) {
      const length = Math.min(f.size, r.int(2 * KiB, 8 * KiB))
      const offset = r.int(0, f.size - length)
      const saved = `r${readEditLog(p).entries.length}`
      writeFileSync(join(p.orig, saved), readRange(path, offset, length))
      logEdit(p, { type: 'range', path: f.path, offset, length, saved })
      writeSync(fd, Buffer.from(hex(r, 2 * length), 'hex'), 0, length, offset)
      changedBytes += length
    }
  } finally {
    closeSync(fd)
  }
  return { files: 1, newFiles: 0, bytes: f.size, changedBytes }
}

/** Undoes every logged edit, newest first; returns how many changes were undone. */
export function revertEdits(name, scale = benchScale()) {
  const p = datasetPaths(name, scale)
  const { entries } = readEditLog(p)
  for (const e of [...entries].reverse()) {
    const path = join(p.data, e.path)
    if (e.type === 'file') copyFileSync(join(p.orig, e.saved), path)
    else if (e.type === 'new') rmSync(path, { force: true })
    else if (e.type === 'range') {
      const fd = openSync(path, 'r+')
      try {
        writeSync(fd, readFileSync(join(p.orig, e.saved)), 0, e.length, e.offset)
      } finally {
        closeSync(fd)
      }
    } else throw new Error(`unknown edit type ${e.type} in ${p.editLog}`)
  }
  rmSync(p.editLog, { force: true })
  rmSync(p.orig, { recursive: true, force: true })
  return entries.length
}

/** Sizes of all regular files under a folder (for repository size on disk). */
export function duBytes(dir) {
  let apparent = 0
  let allocated = 0
  let files = 0
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, e.name)
      if (e.isDirectory()) walk(path)
      else if (e.isFile()) {
        const st = statSync(path)
        apparent += st.size
        allocated += st.blocks * 512
        files++
      }
    }
  }
  walk(dir)
  return { apparent, allocated, files }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(DATASETS)
  for (const n of names) {
    if (!DATASETS[n]) throw new Error(`unknown dataset ${n}; known: ${Object.keys(DATASETS).join(', ')}`)
    const m = ensureDataset(n)
    console.log(JSON.stringify({ name: n, dir: m.dir, reused: m.reused, totalBytes: m.totalBytes, fileCount: m.fileCount, dirCount: m.dirCount, composition: m.composition }))
  }
}
