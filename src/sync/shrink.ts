/**
 * The shrink alarm: a memory file that lost more than `shrink_alarm_percent` of its lines between
 * two snapshots (an agent that rewrote MEMORY.md and forgot most of it). Only text files that
 * changed are read: identical subtrees are skipped by the snapshot diff.
 */
import type { Repository, Snapshot } from '../library.js'
import { asText, fileBytes, lineCount, nodeAt, snapshotRoot } from './snapshot-files.js'

export interface ShrinkAlarm {
  path: string
  linesBefore: number
  linesAfter: number
  /** Lines lost, in percent of linesBefore. */
  percent: number
  from: string
  to: string
}

/** Memory files: Markdown and plain text (the sync's own files are never in a snapshot). */
export const MEMORY_TEXT = /\.(md|markdown|txt)$/i
const MAX_READ = 4 * 1024 * 1024

export async function shrinkAlarms(repo: Repository, from: Snapshot, to: Snapshot, percent: number): Promise<ShrinkAlarm[]> {
  if (percent >= 100) return []
  const diff = await repo.diff(from.id, to.id)
  const prefix = `${snapshotRoot(to)}/`
  const out: ShrinkAlarm[] = []
  for (const p of diff.modified) {
    const rel = p.replace(/^\/+/, '')
    if (!rel.startsWith(prefix) || !MEMORY_TEXT.test(rel)) continue
    const path = rel.slice(prefix.length)
    const a = await nodeAt(repo, from, path)
    const b = await nodeAt(repo, to, path)
    if (a?.type !== 'file' || b?.type !== 'file' || a.size > MAX_READ || b.size > MAX_READ || b.size >= a.size) continue
    const before = asText(await fileBytes(repo, a))
    const after = asText(await fileBytes(repo, b))
    if (before === undefined || after === undefined) continue
    const linesBefore = lineCount(before)
    const linesAfter = lineCount(after)
    if (linesBefore === 0) continue
    const lost = ((linesBefore - linesAfter) / linesBefore) * 100
    if (lost > percent) out.push({ path, linesBefore, linesAfter, percent: Math.round(lost), from: from.id, to: to.id })
  }
  return out
}

export function describeAlarm(a: ShrinkAlarm): string {
  return `${a.path} lost ${a.percent}% of its lines in one sync (${a.linesBefore} -> ${a.linesAfter}); see what was forgotten in the dashboard or restore it from snapshot ${a.from.slice(0, 8)}`
}
