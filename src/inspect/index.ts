/**
 * Inspection: read-only views of a repository.
 * - Stats: sizes, deduplication and compression ratios.
 * - Diff: paths added, removed and modified between two snapshots.
 * - Find: which snapshots hold a path.
 * - Dump: one file's content, or a folder as a tar archive.
 */
export { repositoryStats, type RepositoryStats } from './stats.js'
export { diffSnapshots, type SnapshotDiff } from './diff.js'
export { findInSnapshots, type FindMatch } from './find.js'
export { dump, type Dump, type DumpOptions } from './dump.js'
