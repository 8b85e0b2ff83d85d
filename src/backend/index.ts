/**
 * Backend layer: where a repository's files are stored.
 * - File: an immutable object of one kind (config, keys, data, index, snapshots, locks) named by id.
 * - Backend: saves, loads (whole or a range), stats, lists and removes files.
 */
export * from './backend.js'
export { LocalBackend } from './local.js'
export { MemoryBackend } from './memory.js'
