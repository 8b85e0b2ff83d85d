/**
 * The agent-memory sync: the product layer above the library. Its nouns:
 * - WorkspaceSync: one agent's workspace kept backed up; every adapter calls it.
 * - Config: session-sync-config.json and the plugin's config, one schema (config.ts).
 * - Scope: what a sync covers (an allowlist of memory files, the user's globs, what is never backed up).
 * - State folder: outside the workspace, shared by every adapter: the lock, keys, restore records, staging.
 * - Sync log: memory/sync-log.jsonl, one line per sync, retention, verification, restore and undo.
 * - Restore record: what an in-place restore replaced (its safety snapshot), so `undo` can put it back.
 */
export { WorkspaceSync, SYNC_TRIGGERS, errorOf, type WorkspaceSyncOptions, type SyncTrigger, type SyncSummary, type SyncStatus, type LastSync, type ScheduleHolder, type ScheduleStart, type SyncSnapshot, type RestoreRequest, type RestoreResult, type RestoreRecord, type RestoreStepProgress, type RetentionSummary, type VerifySummary } from './workspace-sync.js'
export * from './config.js'
export * from './errors.js'
export { Scope, DEFAULT_INCLUDES, SECRET_PATTERNS, SYNC_LOG, STATUS_PAGE } from './scope.js'
export { SyncLog, type SyncLogEntry, type LogKind } from './log.js'
export { retentionPlan, syncRetentionPlan, deviceOf, type RetentionDecision } from './retention.js'
export { protectionOf, describeProtection, protectedStatusLines, suspicionOf, versionCheckOf, versionCheckWarning, versionEventCount, VERSION_EVENTS_KEPT, type ProtectionInfo, type VersionCheck, type UnexplainedVersionEvent } from './protection.js'
export type { RestoreDiff, ApplyCounts } from './restore.js'
export { parseTimeRef, resolveTimeRef, formatTime, type TimeRef } from './time.js'
export { stateRoot, workspaceStateDir, deviceName } from './state.js'
export { type LockHolder, processAlive, removeStale } from './lock.js'
export { shrinkAlarms, describeAlarm, MEMORY_TEXT, type ShrinkAlarm } from './shrink.js'
export { nodeAt, folderEntries, fileBytes, contentKey, asText, lineCount, pathParts, snapshotRoot, type StoredNode } from './snapshot-files.js'
