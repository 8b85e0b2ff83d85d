/**
 * Archiver layer: backup.
 * - Source: a path given to back up; it becomes one node of the snapshot's root tree.
 * - Parent: the snapshot compared against; unchanged files reuse its content lists unread.
 * - BlobSaver: id → dedup → compress → seal → packer, for data and tree blobs.
 * - ChunkPool: worker threads that read, chunk, name, compress and seal whole files (large backups).
 * - SealPool: one worker that compresses and seals the blobs named on the calling thread (small backups).
 * - Excluder: gitignore-style patterns, exclude files and a size limit.
 * - Prewalk: folder listings and lstats gathered while the repository opens (its key derives), taken by the walk.
 */
export { backup, type BackupOptions, type BackupProgress, type BackupSummary, type BackupIssue } from './archiver.js'
export { Excluder } from './excludes.js'
export { Prewalk, type PrewalkListing } from './prewalk.js'
