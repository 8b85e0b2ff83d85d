// Requests and bytes against a real S3-compatible server on 127.0.0.1 (s3rver, started here):
// init; first backup of a 50 MB folder of 2,000 small text files; an unchanged re-backup with
// skipIfUnchanged; a re-backup after editing one file; a full restore. Also backup and restore MB/s.
// Run: npm run build && node bench/s3.mjs   (writes bench/results/s3.json and s3.md)
import { spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { cpus, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Repository, openBackend } from '../dist/index.js'

const here = dirname(fileURLToPath(import.meta.url))
const work = mkdtempSync(join(tmpdir(), 'ssc-s3-bench-'))
const server = spawn(process.execPath, ['--openssl-legacy-provider', join(here, '..', 'test', 'support', 's3-server.mjs'), join(work, 's3'), 'bench'], { stdio: ['pipe', 'pipe', 'inherit'] })
const { port } = JSON.parse(await new Promise((r) => createInterface({ input: server.stdout }).once('line', r)))
const location = `s3:http://127.0.0.1:${port}/bench/repo`
const s3 = { credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } }

// 2,000 markdown / JSON / JSONL files, 50 MB, from a seeded word list.
const src = join(work, 'memory')
let seed = 12345
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32)
const words = 'agent memory note task user session tool call result plan step remember decided learned file project meeting summary context token model reply question answer'.split(' ')
const text = (n) => {
  let s = ''
  while (s.length < n) s += words[Math.floor(rnd() * words.length)] + (rnd() < 0.08 ? '.\n' : ' ')
  return s
}
for (let i = 0; i < 2000; i++) {
  const dir = join(src, `day-${String(i % 40).padStart(2, '0')}`)
  mkdirSync(dir, { recursive: true })
  const ext = ['md', 'json', 'jsonl'][i % 3]
  writeFileSync(join(dir, `item-${i}.${ext}`), text(25_000))
}

const rows = []
const record = (step, requests, ms, bytes) => rows.push({ step, ...requests, ms: Math.round(ms), MBps: bytes ? +(bytes / 1e6 / (ms / 1000)).toFixed(1) : undefined })
const t = () => performance.now()

let t0 = t()
const repo = await Repository.init({ backend: openBackend(location, { s3 }), password: 'bench' })
record('init', repo.requests(), t() - t0)
t0 = t()
const first = await repo.backup([src])
record('first backup (2,000 files, 50 MB)', first.requests, t() - t0, first.totalBytes)
t0 = t()
const unchanged = await repo.backup([src], { skipIfUnchanged: true })
record('unchanged re-backup (skipIfUnchanged)', unchanged.requests, t() - t0)
appendFileSync(join(src, 'day-07', 'item-7.jsonl'), '{"note":"one more line"}\n')
t0 = t()
const edited = await repo.backup([src])
record('re-backup after editing one file', edited.requests, t() - t0)
await repo.close()
const fresh = await Repository.open({ backend: openBackend(location, { s3 }), password: 'bench' })
t0 = t()
const restored = await fresh.restore('latest', join(work, 'restored'))
record('full restore (fresh process view)', restored.requests, t() - t0, restored.bytesRestored)
await fresh.close()

server.stdin.end()
rmSync(work, { recursive: true, force: true })
const machine = `${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}, Node ${process.version}`
const md = [`S3 requests (s3rver on 127.0.0.1), ${machine}`, '', '| step | PUT | GET | LIST | HEAD | DELETE | bytes up | bytes down | ms | MB/s |', '|---|---|---|---|---|---|---|---|---|---|']
for (const r of rows) md.push(`| ${r.step} | ${r.PUT} | ${r.GET} | ${r.LIST} | ${r.HEAD} | ${r.DELETE} | ${r.bytesUp} | ${r.bytesDown} | ${r.ms} | ${r.MBps ?? ''} |`)
mkdirSync(join(here, 'results'), { recursive: true })
writeFileSync(join(here, 'results', 's3.json'), JSON.stringify({ machine, rows }, null, 2))
writeFileSync(join(here, 'results', 's3.md'), md.join('\n') + '\n')
console.log(md.join('\n'))
