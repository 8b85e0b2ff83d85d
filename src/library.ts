/**
 * The library's public API: everything the product layers above it (the sync layer, the CLI, the
 * OpenClaw plugin, the dashboard) may use. `src/index.ts` exports this and the sync layer.
 */
export { Repository, DEFAULT_CHUNKER, DEFAULT_PACK_SIZE, FUTURE_SNAPSHOT_TOLERANCE_MS, SUSPICIOUS_MARGIN_MS, isSuspicious, snapshotOrderTime, type InitOptions, type OpenOptions, type Snapshot, type SnapshotFilter } from './repository/repository.js'
export type { Entry } from './repository/tree-walk.js'
export type { CatKind } from './repository/cat.js'
export { CAT_KINDS, jsonable } from './repository/cat.js'
export type { SnapshotSummary } from './repository/repofile.js'
export type { BackupOptions, BackupProgress, BackupSummary, BackupIssue } from './archiver/archiver.js'
export type { RestoreIssue, RestoreKept, RestoreOptions, RestoreProgress, RestoreSummary, OverwritePolicy } from './restorer/restorer.js'
export { OVERWRITE_POLICIES } from './restorer/restorer.js'
export type { PruneOptions, PrunePlan, PackPlan, PruneSummary } from './prune/index.js'
export type { LockInfo } from './repository/lock.js'
export type { TagOptions, TagSummary } from './repository/tag.js'
export { recoverTo, type RecoverOptions, type RecoverSummary } from './repository/recover.js'
export { journalSchema, type JournalRecord } from './repository/journal.js'
export { generateOwnerKey, parseOwnerKey, publicKeyOf, ownerKeyFingerprint, signJournalRecord, verifyJournalRecord, OWNER_KEY_NAME, type OwnerKeyPair, type RecordedOwnerKey } from './repository/owner-key.js'
export { keepRetention, neededObjects, RETENTION_SLACK_DAYS, type RetentionReport, type KeepRetentionOptions } from './repository/retention.js'
export {
  adviceFor,
  check,
  isWarning,
  WARNING_KINDS,
  parseDataSubset,
  type CheckReport,
  type CheckOptions,
  type CheckProgress,
  type CheckCounts,
  type Problem,
  type ProblemKind,
  type DataSubset,
  type DoctorCheck,
  type DoctorCheckName,
  type DoctorReport,
  checkVersions,
  type VersionEvent,
  type VersionsReport,
} from './check/index.js'
export * from './forget/index.js'
export type { RepositoryStats, SnapshotDiff, FindMatch, Dump, DumpOptions } from './inspect/index.js'
export {
  LocalBackend,
  MemoryBackend,
  ObjectLockModel,
  ObjectLockModelBackend,
  MODEL_ROLES,
  type ModelPermissions,
  type ObjectLockModelOptions,
  versionedOf,
  type VersionedStore,
  type ListedVersion,
  asOf,
  AsOfBackend,
  AS_OF_NOW,
  type BucketProtection,
  type ObjectLockState,
  type StoredVersion,
  type RetentionMode,
  retentionStoreOf,
  type RetentionStore,
  type ObjectRetention,
  S3Backend,
  withRetry,
  withConcurrencyLimit,
  withRequestCounter,
  withFaults,
  withDryRun,
  DryRunBackend,
  withRateLimit,
  RateLimitedBackend,
  type RateLimitOptions,
  isRetryable,
  type Backend,
  type FileType,
  type Handle,
  type ByteRange,
  type S3Options,
  type S3Credentials,
  type RetryOptions,
  type RequestCounts,
  type FaultKind,
  type FaultOptions,
  openBackend,
  s3Of,
  parseLocation,
  providerOptions,
  checkEndpoint,
  S3_PROVIDERS,
  type S3Provider,
  type OpenBackendOptions,
} from './backend/index.js'
export type { Argon2Params } from './crypto/keyfile.js'
export { DEFAULT_LIMITS, type RepositoryLimits } from './repository/limits.js'
export type { ChunkerParams } from './chunker/index.js'
export type { CompressionSetting } from './compression/index.js'
export { Excluder, Prewalk, type PrewalkListing } from './archiver/index.js'
export { prestartWorkers } from './repository/blob-open-pool.js'
export * from './errors/index.js'
/**
 * Slices long work on the calling thread so the event loop gets a turn every 10 ms: what backup,
 * restore and check use inside, for callers that walk or compare many files themselves.
 */
export { Pacer, SLICE_MS } from './runtime/pace.js'
