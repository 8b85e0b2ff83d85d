/**
 * Inspection: read-only views of a repository.
 * - Stats: sizes, deduplication and compression ratios.
 * - Diff: paths added, removed and modified between two snapshots.
 * - Find: which snapshots hold a path.
 */
export { repositoryStats, type RepositoryStats } from './stats.js'
export { diffSnapshots, type SnapshotDiff } from './diff.js'
export { findInSnapshots, type FindMatch } from './find.js'
