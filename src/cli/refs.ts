/**
 * Snapshot references as typed on the command line: `latest`, `latest~N`, an id prefix or a time,
 * optionally followed by `:FOLDER` (restic's form: that folder of the snapshot, as `ls` shows it).
 */
import { parseTimeRef } from '../index.js'

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
