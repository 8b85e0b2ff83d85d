/**
 * Backend layer: where a repository's files are stored.
 * - File: an immutable object of one kind (config, keys, data, index, snapshots, locks) named by id.
 * - Backend: saves, loads (whole or a range), stats, lists and removes files: local folder, memory,
 *   S3-compatible storage.
 * - Decorators wrap any backend and are backends themselves: retry, concurrency limit, request
 *   counter, fault injection (tests), dry run (writes dropped), rate limits.
 */
export * from './backend.js'
export { LocalBackend } from './local.js'
export { MemoryBackend } from './memory.js'
export { ObjectLockModel, ObjectLockModelBackend, MODEL_ROLES, type ModelPermissions, type ObjectLockModelOptions } from './object-lock-model.js'
export { asOf, AsOfBackend, AS_OF_NOW } from './as-of.js'
export { S3Backend, type S3Options, type S3Credentials } from './s3.js'
export { withRetry, RetryBackend, isRetryable, type RetryOptions } from './retry.js'
export { withConcurrencyLimit, LimitedBackend } from './limit.js'
export { withRequestCounter, CountingBackend, countsSince, zeroCounts, type RequestCounts } from './counter.js'
export { withDryRun, DryRunBackend } from './dryrun.js'
export { withRateLimit, RateLimitedBackend, type RateLimitOptions } from './ratelimit.js'
export { withFaults, FaultyBackend, type FaultKind, type FaultOptions } from './faults.js'
export { openBackend, parseLocation, providerOptions, checkEndpoint, s3Of, S3_PROVIDERS, type S3Provider, type ParsedLocation, type OpenBackendOptions } from './location.js'
