// The programs the benchmark compares: this library (bench/op.mjs on a given Node binary) and its
// peers restic and borg, driven through their command lines with comparable settings: a local
// repository, encryption on, each program's default compression, a password (a raw key as an extra
// figure for ours). Every operation is one process.
//
// A variant: { id, label, kind, version, settings, setup(dir) → state, and one method per operation
// returning the command { cmd, args, env, cwd } }, plus parse(stdout) (the operation's summary),
// snapshotRef (what to remember of a backup, to restore it later) and restoredRoot (where a restore
// puts the backed-up folder).
import { writeFileSync, mkdirSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'

const PASSWORD = process.env.BENCH_PASSWORD ?? 'bench password'

/** The last line of some output that parses as JSON and passes `pred`, or undefined. */
function lastJson(text, pred = () => true) {
  for (const line of text.trim().split('\n').reverse()) {
    if (!line.startsWith('{')) continue
    try {
      const v = JSON.parse(line)
      if (pred(v)) return v
    } catch {
      // a line of something else
    }
  }
  return undefined
}

/** This library, through bench/op.mjs and the public API of the dist/ snapshot, on one Node binary. */
export function oursVariant({ nodeBin, version, opScript, dist, rawKey = false, datasets }) {
  const major = version.replace(/^v/, '').split('.')[0]
  // rawKey: every operation after init opens the repository with the raw key (as the plugin does).
  const node = (s, ...args) => ({
    cmd: nodeBin,
    args: [opScript, ...args],
    // The local cache in the run's folder, as restic's is: its size is reported beside theirs.
    env: { ...process.env, BENCH_DIST: dist, BENCH_PASSWORD: PASSWORD, SESSION_SYNC_CACHE_DIR: s.cache, ...(rawKey && args[0] !== 'init' ? { BENCH_KEY_FILE: s.keyFile } : {}) },
  })
  return {
    id: rawKey ? `ours-node${major}-key` : `ours-node${major}`,
    label: rawKey ? `ours, raw key (node ${major})` : `ours (node ${major})`,
    short: rawKey ? `n${major}k` : `n${major}`,
    rawKey,
    // Only these datasets (all when undefined).
    datasets,
    kind: 'ours',
    nodeBin,
    version: `node ${version}`,
    settings: 'library defaults: AES-256-GCM, compression auto (zstd where node:zlib has it, Node >= 22.15: level 3, level 2 on the chunk workers of a large backup; else zstd built to WebAssembly, same levels), Argon2id 64 MiB × 3 for the password; restore authenticates every blob (AES-256-GCM under a key derived from its id) without recomputing its id, check --read-data recomputes every id',
    setup(dir) {
      mkdirSync(dir, { recursive: true })
      const keyFile = join(dir, 'raw.key')
      writeFileSync(keyFile, randomBytes(32))
      return { dir, repo: join(dir, 'repo'), cache: join(dir, 'cache'), keyFile, snapshots: [] }
    },
    cacheDirs: (s) => [s.cache],
    init: (s) => node(s, 'init', s.repo, '--add-key-file', s.keyFile),
    backup: (s, ds, { key = false, repeat = 0 } = {}) => node(s, 'backup', s.repo, ds.dir, ...(key ? ['--key-file', s.keyFile] : []), ...(repeat ? ['--repeat', String(repeat)] : [])),
    restore: (s, target, ref) => node(s, 'restore', s.repo, target, '--snapshot', ref),
    check: (s) => node(s, 'check', s.repo, '--read-data'),
    forget: (s, keepLast) => node(s, 'forget', s.repo, '--keep-last', String(keepLast)),
    prune: (s) => node(s, 'prune', s.repo),
    parse: (stdout) => lastJson(stdout, (v) => typeof v.op === 'string'),
    snapshotRef: (s, parsed) => parsed?.summary?.snapshotId,
    // The restorer puts a backed-up folder under its base name.
    restoredRoot: (target, ds) => join(target, ds.dir.split('/').at(-1)),
  }
}

/** restic: `restic init` (repository format 2, compression auto), RESTIC_PASSWORD, its own cache dir. */
export function resticVariant({ bin, version }) {
  const cmd = (s, args, cwd) => ({
    cmd: bin,
    args,
    cwd,
    env: { ...process.env, RESTIC_REPOSITORY: s.repo, RESTIC_PASSWORD: PASSWORD, RESTIC_CACHE_DIR: s.cache, RESTIC_PROGRESS_FPS: '0.1' },
  })
  return {
    id: 'restic',
    label: 'restic',
    short: 'restic',
    kind: 'peer',
    version,
    settings: 'restic init (repository version 2, compression auto), AES-256-CTR + Poly1305, scrypt KDF; local cache in a folder of its own',
    setup(dir) {
      mkdirSync(dir, { recursive: true })
      return { dir, repo: join(dir, 'repo'), cache: join(dir, 'cache'), snapshots: [] }
    },
    init: (s) => cmd(s, ['init']),
    // The same path every time, so restic picks the previous snapshot of that path as the parent.
    backup: (s, ds) => cmd(s, ['backup', '--json', ds.dir]),
    restore: (s, target, ref) => cmd(s, ['restore', ref, '--target', target]),
    check: (s) => cmd(s, ['check', '--read-data']),
    forget: (s, keepLast) => cmd(s, ['forget', '--keep-last', String(keepLast)]),
    prune: (s) => cmd(s, ['prune']),
    parse: (stdout) => lastJson(stdout, (v) => v.message_type === 'summary') ?? null,
    snapshotRef: (s, parsed) => parsed?.snapshot_id,
    // restic restores the absolute path under the target.
    restoredRoot: (target, ds) => join(target, ds.dir),
    cacheDirs: (s) => [s.cache],
  }
}

/** borg: `borg init -e repokey`, BORG_PASSPHRASE, `borg create` with its default lz4 compression. */
export function borgVariant({ bin, version }) {
  const cmd = (s, args, cwd) => ({
    cmd: bin,
    args,
    cwd,
    // BORG_BASE_DIR: the files cache, chunks cache and security info go to a folder of this run.
    env: { ...process.env, BORG_PASSPHRASE: PASSWORD, BORG_BASE_DIR: s.base, BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes' },
  })
  return {
    id: 'borg',
    label: 'borg',
    short: 'borg',
    kind: 'peer',
    version,
    settings: 'borg init -e repokey (AES-256-CTR + HMAC-SHA256, PBKDF2), borg create default compression lz4; files and chunks caches in a folder of its own',
    setup(dir) {
      mkdirSync(dir, { recursive: true })
      return { dir, repo: join(dir, 'repo'), base: join(dir, 'home'), snapshots: [], archives: 0 }
    },
    init: (s) => cmd(s, ['init', '-e', 'repokey', s.repo]),
    backup: (s, ds) => {
      s.pending = `snap-${++s.archives}`
      return cmd(s, ['create', '--json', `${s.repo}::${s.pending}`, ds.dir])
    },
    // borg extracts into the current folder.
    restore: (s, target, ref) => cmd(s, ['extract', `${s.repo}::${ref}`], target),
    check: (s) => cmd(s, ['check', '--verify-data', s.repo]),
    forget: (s, keepLast) => cmd(s, ['prune', '--keep-last', String(keepLast), s.repo]),
    prune: (s) => cmd(s, ['compact', s.repo]),
    parse: (stdout) => {
      // `borg create --json` prints one pretty-printed JSON document.
      try {
        return JSON.parse(stdout)
      } catch {
        return null
      }
    },
    snapshotRef: (s) => s.pending,
    // borg stores paths without their leading slash and extracts them under the current folder.
    restoredRoot: (target, ds) => join(target, ds.dir.replace(/^\/+/, '')),
    cacheDirs: (s) => [s.base],
  }
}
