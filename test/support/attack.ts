// The scripted attack of a prompt-injected agent on its own protected repository, run against a
// stage: the Object Lock model (fast, an injected clock) or a real radosgw. The agent backs up
// several times, then tries to destroy or rewrite its history with its own credential; the owner
// then reads the repository as it was before the attack and restores every snapshot byte for byte.
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { FILE_TYPES } from '../../src/backend/backend.js'
import {
  asOf,
  MemoryBackend,
  ObjectExistsError,
  PermissionDeniedError,
  recoverTo,
  Repository,
  type Backend,
  type Handle,
  type ListedVersion,
  type VersionedStore,
} from '../../src/index.js'
import { FAST_KDF, filesUnder, randomBytesSeeded, SMALL_CHUNKS, tempDir } from '../helpers.js'

export interface AttackStage {
  /** The agent's storage: a writer's credential with no delete rights. */
  agent(): Backend & VersionedStore
  /** The bucket owner's storage. */
  owner(): Backend & VersionedStore
  /** Lets the storage's clock move on (past the second its LastModified times are rounded to). */
  tick(): Promise<void>
  /** The storage's time now. */
  now(): Date
  /** The attack on retention: shortens (and, with bypass, lifts) a version's retention; must be refused. */
  shortenRetention(h: Handle, versionId: string, bypass: boolean): Promise<void>
}

export interface AttackOutcome {
  before: Date
  /** What each attempt did: 'refused: CODE' or 'accepted, earlier version kept'. */
  attempts: Record<string, string[]>
  snapshots: string[]
  trees: Map<string, Map<string, Buffer>>
}

const refusedCode = (e: unknown): string => {
  if (e instanceof PermissionDeniedError || e instanceof ObjectExistsError) return `refused: ${e.code}`
  const status = (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode
  if (status === 403) return 'refused: 403'
  throw e
}

async function listAll(store: VersionedStore & Backend): Promise<ListedVersion[]> {
  const out: ListedVersion[] = []
  for (const type of FILE_TYPES) for await (const v of store.listVersions(type)) out.push({ ...v, name: `${type}/${v.name}` })
  return out
}

const handleOf = (key: string): Handle => ({ type: key.slice(0, key.indexOf('/')) as Handle['type'], name: key.slice(key.indexOf('/') + 1) })

export async function runAttack(stage: AttackStage): Promise<AttackOutcome> {
  const src = join(tempDir('attack'), 'memory')
  mkdirSync(src)
  const trees = new Map<string, Map<string, Buffer>>()
  const repo = await Repository.init({ backend: stage.agent(), password: 'pw', argon2: FAST_KDF, chunker: SMALL_CHUNKS, packSize: 64 * 1024, protect: true, cacheDir: false })
  for (let i = 0; i < 3; i++) {
    writeFileSync(join(src, `day${i}.md`), randomBytesSeeded(30_000 + i * 5000, 10 + i))
    writeFileSync(join(src, 'notes.md'), randomBytesSeeded(20_000, 20 + i)) // changes every time
    const s = await repo.backup([src])
    trees.set(s.snapshotId!, new Map(filesUnder(src).map((f) => [f, readFileSync(join(src, f))])))
    await stage.tick()
  }
  await repo.close()
  const before = stage.now()
  await stage.tick()

  const attempts: Record<string, string[]> = { delete: [], deleteVersion: [], shortenRetention: [], overwrite: [] }
  const agent = stage.agent()
  const stored = (await listAll(agent)).filter((v) => !v.deleteMarker)
  // 1. Delete every object.
  for (const v of stored) attempts.delete.push(await agent.remove(handleOf(v.name)).then(() => 'accepted', refusedCode))
  // 2. Delete every version.
  for (const v of stored) attempts.deleteVersion.push(await agent.removeVersion(handleOf(v.name), v.versionId).then(() => 'accepted', refusedCode))
  // 3. Shorten retention, with and without asking to bypass it.
  const packs = stored.filter((v) => v.name.startsWith('data/'))
  for (const v of packs.slice(0, 2)) for (const bypass of [false, true]) attempts.shortenRetention.push(await stage.shortenRetention(handleOf(v.name), v.versionId, bypass).then(() => 'accepted', refusedCode))
  // 4. Junk snapshots with forged times (the agent holds the password), and a file of garbage among the snapshots.
  const junkDir = join(tempDir('attack-junk'), 'memory')
  mkdirSync(junkDir)
  writeFileSync(join(junkDir, 'junk.md'), 'nothing to see here')
  const forger = await Repository.open({ backend: stage.agent(), password: 'pw', cacheDir: false })
  for (const time of [new Date('2031-01-01T00:00:00Z'), new Date(before.getTime() + 60_000), new Date('2020-01-01T00:00:00Z')]) await forger.backup([junkDir], { time })
  await forger.close()
  const garbage = randomBytesSeeded(500, 5)
  await agent.saveConditional({ type: 'snapshots', name: createHash('sha256').update(garbage).digest('hex') }, garbage)
  // 5. Overwrite the config, the key files, the packs and the index files (a conditional write: some servers ignore If-None-Match).
  const targets = stored.filter((v) => /^(config|keys|data|index)\//.test(v.name))
  for (const v of targets) {
    const junk = randomBytesSeeded(v.size > 0 ? v.size : 100, 99)
    attempts.overwrite.push(await agent.saveConditional(handleOf(v.name), junk).then(() => 'accepted', refusedCode))
  }
  await agent.close?.()

  // Every earlier version is still there.
  const owner = stage.owner()
  const now = await listAll(owner)
  for (const v of stored) assert.ok(now.some((x) => x.name === v.name && x.versionId === v.versionId && !x.deleteMarker), `${v.name} version ${v.versionId} survived the attack`)
  await owner.close?.()
  return { before, attempts, snapshots: [...trees.keys()], trees }
}

/** The owner reads the repository as it was at `time` and restores every snapshot of `outcome` byte for byte; returns the view's check problems. */
export async function recoverAndRestore(stage: AttackStage, outcome: AttackOutcome, time: Date): Promise<{ snapshots: string[]; problems: unknown[] }> {
  const view = await Repository.open({ backend: asOf(stage.owner(), time), password: 'pw', cacheDir: false })
  const snapshots = (await view.snapshots()).map((s) => s.id)
  for (const id of outcome.snapshots) {
    const out = tempDir('attack-restore')
    await view.restore(id, out)
    const tree = outcome.trees.get(id)!
    assert.deepEqual(filesUnder(join(out, 'memory')).sort(), [...tree.keys()].sort())
    for (const [f, bytes] of tree) assert.ok(readFileSync(join(out, 'memory', f)).equals(bytes), `${f} of ${id.slice(0, 8)} byte for byte`)
  }
  const { problems } = await view.check({ readData: true })
  await view.close()
  return { snapshots, problems }
}

/** recoverTo of the view before the attack into a fresh memory backend: a repository with exactly the earlier snapshots. */
export async function recoverCopy(stage: AttackStage, outcome: AttackOutcome): Promise<string[]> {
  const copy = new MemoryBackend()
  await recoverTo(asOf(stage.owner(), outcome.before), copy)
  const repo = await Repository.open({ backend: copy, password: 'pw', cacheDir: false })
  const ids = (await repo.snapshots()).map((s) => s.id)
  assert.deepEqual((await repo.check({ readData: true })).problems, [])
  await repo.close()
  return ids
}
