/**
 * Restorer layer: the mirror of backup.
 * - Plan: every file of the snapshot (or the included part) with the blobs it needs, grouped by pack.
 * - Run: one ranged read per run of nearby blobs in a pack; each blob authenticated (under a key
 *   derived from its id) and decompressed, and its id recomputed (unless `verifyIds` is false), before it is
 *   written at its offset in a temporary file.
 */
export { restore, checkName, OVERWRITE_POLICIES, type OverwritePolicy, type RestoreKept, type RestoreIssue, type RestoreOptions, type RestoreProgress, type RestoreSummary } from './restorer.js'
