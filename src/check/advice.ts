import type { Problem, ProblemKind } from './check.js'

/**
 * What to do about the problems `check` found, for a person: a sentence or two a kind, naming the
 * command that mends it where one does. Kinds that mean storage lost or changed data share one text:
 * nothing in the repository can bring such data back.
 */
const LOST =
  'Storage lost or changed data that snapshots need: restore what you need now (snapshots check does not name are not affected), and find the cause (the provider, the disk) before you prune or delete anything. New backups reuse what the index names, including what is lost: until this is resolved, back up to a new repository as well.'

const REINDEX =
  'Run "session-sync prune" (see its plan first with --dry-run): it reads the headers of the packs no readable index names, indexes again those the snapshots need, and deletes damaged index files. Then check again.'

const ADVICE: Record<ProblemKind, string> = {
  'index-unreadable': `An index file is damaged; the packs it named are still in storage. ${REINDEX}`,
  'pack-unindexed':
    'Packs no index names, left by an interrupted backup or a lost index file: nothing to do. The next backup that stores data indexes them and reuses what they hold; prune indexes those a snapshot needs and deletes the rest once they are older than --unindexed-grace.',
  'blob-missing': `Blobs no index names: they are gone from storage. ${LOST}`,
  'index-invalid': `An index file is wrong about a pack. ${LOST}`,
  'snapshot-unreadable': `A snapshot file is damaged: that snapshot cannot be restored; the others are not affected. ${LOST}`,
  'pack-missing': LOST,
  'pack-size': LOST,
  'blob-conflict': LOST,
  'tree-unreadable': LOST,
  'file-size': LOST,
  'pack-hash': LOST,
  'pack-header': LOST,
  'blob-corrupt': LOST,
  'retention-short':
    'Objects a snapshot needs are locked for less than the repository\'s retention: run check with the owner\'s credential (a credential that may set Object Lock retention), which extends them to now + the retention + 7 days.',
}

/**
 * What to do about a report's problems: one text for each distinct piece of advice, in the order of
 * the problems. Blobs no index names while some packs are unindexed are most likely in those packs
 * (an index file damaged or lost): then the advice is prune's reindexing, not data loss.
 */
export function adviceFor(problems: ReadonlyArray<Pick<Problem, 'kind'> & Partial<Pick<Problem, 'pack' | 'intact'>>>): string[] {
  const kinds = new Set<string>(problems.map((p) => p.kind))
  const reindexable = kinds.has('pack-unindexed') || kinds.has('index-unreadable')
  // A pack whose name or header is damaged (or its end cut off) while every blob the index lists in
  // it opened intact: the blobs can be written anew (prune's repack), nothing is lost.
  const repack = [...new Set(problems.filter((p) => (p.kind === 'pack-hash' || p.kind === 'pack-header') && p.intact === true && p.pack !== undefined).map((p) => p.pack!))]
  const inRepack = new Set(repack)
  const repairable = (p: (typeof problems)[number]) => REPAIRABLE_KINDS.has(p.kind) && p.pack !== undefined && inRepack.has(p.pack) && (p.kind === 'pack-size' || p.intact === true)
  const allRepairable = (kind: string) => problems.every((p) => p.kind !== kind || repairable(p))
  const out = new Set<string>()
  if (repack.length > 0) out.add(repackAdvice(repack))
  for (const k of kinds) {
    if (k === 'blob-missing' && reindexable) {
      out.add(`Blobs no index names, most likely in the unindexed packs. ${REINDEX}`)
      continue
    }
    if (REPAIRABLE_KINDS.has(k) && allRepairable(k)) continue
    const text = (ADVICE as Record<string, string | undefined>)[k]
    if (text) out.add(text)
  }
  return [...out]
}

const REPAIRABLE_KINDS = new Set<string>(['pack-hash', 'pack-header', 'pack-size'])

function repackAdvice(packs: string[]): string {
  const one = packs.length === 1
  return (
    `Every blob the index lists in ${one ? 'the pack' : 'the packs'} with a damaged name or header opened intact: nothing is lost, and restores read ${one ? 'it' : 'them'} as ${one ? 'it is' : 'they are'}. ` +
    `Run "session-sync prune ${packs.map((p) => `--repack ${p}`).join(' ')}" to write those blobs into new packs and delete the damaged ${one ? 'one' : 'ones'}, then check again; and find the cause (the provider, the disk).`
  )
}
