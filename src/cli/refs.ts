/**
 * Snapshot references as typed on the command line: `latest`, `latest~N`, an id prefix or a time,
 * optionally followed by `:FOLDER` (restic's form: that folder of the snapshot, as `ls` shows it).
 */
import { InvalidOptionsError, parseTimeRef, resolveTimeRef, type Repository, type SnapshotFilter } from '../index.js'

/** Whether `text` alone names a snapshot: latest, latest~N, an id prefix, or a time parseTimeRef reads. */
function isRef(text: string): boolean {
  if (/^[0-9a-f]{1,64}$/i.test(text)) return true
  try {
    parseTimeRef(text)
    return true
  } catch {
    return false
  }
}

/**
 * Splits `REF:FOLDER` into the reference and the folder. A time's own colons stay with it
 * (`2026-12-05 10:00:00+01:00:memory`): the split is at the last colon whose left side names a
 * snapshot on its own, and only when the whole text does not.
 */
export function splitSnapshotRef(text: string): { ref: string; subfolder?: string } {
  if (!text.includes(':') || isRef(text)) return { ref: text }
  for (let i = text.lastIndexOf(':'); i > 0; i = text.lastIndexOf(':', i - 1)) {
    const ref = text.slice(0, i)
    if (isRef(ref)) return { ref, subfolder: text.slice(i + 1) }
  }
  return { ref: text }
}

/**
 * The snapshot a reference names, as the library takes it: `latest` and id prefixes as given; a
 * time (`2026-12-05 10:00:00+01:00` as the CLI prints it, a local time or date, `2d`, `latest~1`)
 * read by the sync layer's parser and resolved to the newest snapshot at or before it, whose full
 * id is returned with a line saying which was chosen and in which zone the time was read.
 */
export async function resolveSnapshotRef(repo: Repository, text: string, filter?: SnapshotFilter): Promise<{ ref: string; description?: string }> {
  if (text === 'latest' || /^[0-9a-f]{1,64}$/.test(text)) return { ref: text }
  const parsed = parseTimeRef(text)
  const { snapshot, description } = resolveTimeRef(parsed, await repo.snapshots(filter ?? {}))
  return { ref: snapshot.id, description }
}

/** A time given to `backup --time`: the same forms, but it must be an instant. */
export function parseGivenTime(text: string): Date {
  const parsed = parseTimeRef(text)
  if (parsed.kind !== 'time') throw new InvalidOptionsError(`--time takes a time (2026-12-05 10:00:00+01:00, 2026-12-05, 2d), not "${text}"`)
  return parsed.time
}

/** The tag `backup --time` adds: the snapshot's time was given, not read from the clock. */
export const USER_TIME_TAG = 'user-time'
