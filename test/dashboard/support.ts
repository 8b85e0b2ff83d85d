/** A workspace with a history, for the dashboard's tests: several syncs over days, an agent that forgets. */
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { WorkspaceSync } from '../../src/index.js'

export interface Seeded {
  root: string
  ws: string
  env: NodeJS.ProcessEnv
  sync: WorkspaceSync
  clock: { now: Date }
  /** Snapshot ids in the order they were made. */
  snapshots: string[]
}

export const MEMORY_V1 = '# Memory\n- the user likes tea\n- the user lives in Lyon\n- the cat is called Miso\n- standup is at 9:30\n'
export const MEMORY_V2 = '# Memory\n- the user likes tea\n- the user lives in Lyon\n- the cat is called Miso\n- standup is at 9:30\n- the user learned Rust in December\n'
/** The agent rewrote its memory and lost most of it. */
export const MEMORY_V3 = '# Memory\n- the user likes coffee\n'

export async function seededWorkspace(root: string, opts: { config?: Record<string, unknown> } = {}): Promise<Seeded> {
  const ws = join(root, 'workspace')
  mkdirSync(join(ws, 'memory'), { recursive: true })
  mkdirSync(join(ws, 'notes'), { recursive: true })
  writeFileSync(join(ws, 'MEMORY.md'), MEMORY_V1)
  writeFileSync(join(ws, 'SOUL.md'), 'calm and precise\n')
  writeFileSync(join(ws, 'memory', '2026-12-01.md'), 'first day\n- met the user\n')
  writeFileSync(join(ws, 'notes', 'photo.bin'), Buffer.from([0, 1, 2, 3, 255, 254, 0, 7]))
  writeFileSync(join(ws, 'random.txt'), 'outside the scope\n')
  writeFileSync(join(ws, 'session-sync-config.json'), JSON.stringify({ provider: 'local', path: join(root, 'repo'), debounce_seconds: 0, device: 'laptop', ...opts.config }))
  const env = { SESSION_SYNC_STATE_DIR: join(root, 'state'), HOME: root }
  const clock = { now: new Date(Date.now() - 3 * 86_400_000) }
  const sync = WorkspaceSync.create({ workspace: ws, env, now: () => clock.now })
  await sync.init()
  const snapshots: string[] = []
  const step = async (hours: number) => {
    clock.now = new Date(clock.now.getTime() + hours * 3_600_000)
    const s = await sync.syncNow({ trigger: 'manual' })
    if (s.result === 'ok') {
      snapshots.push(s.snapshot!)
      // The storage's time of the snapshot file is its time, as when the syncs ran then: a
      // snapshot dated days before the storage received it would be suspicious.
      utimesSync(join(root, 'repo', 'snapshots', s.snapshot!), clock.now, clock.now)
    }
  }
  await step(0)
  writeFileSync(join(ws, 'MEMORY.md'), MEMORY_V2)
  writeFileSync(join(ws, 'memory', '2026-12-02.md'), 'second day\n- the user asked about Rust\n')
  await step(20)
  writeFileSync(join(ws, 'MEMORY.md'), MEMORY_V3)
  writeFileSync(join(ws, 'memory', '2026-12-01.md'), 'first day\n')
  await step(20)
  clock.now = new Date()
  return { root, ws, env, sync, clock, snapshots }
}
