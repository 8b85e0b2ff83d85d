/**
 * Retention ("forget"): deciding which snapshots to keep and removing the others' snapshot files.
 *
 * - policy: the keep rules (`keepLast`, `keepHourly` … `keepYearly`, `keepWithin`, `keepTags`);
 *   a snapshot is kept when any rule keeps it. An empty policy keeps everything.
 * - group: the snapshots a policy is applied to together, by default those of one host and one
 *   set of paths; each group keeps its own history and its newest snapshot is never removed.
 * - decision: for each snapshot, keep or remove, with the reasons it is kept (`daily 2026-11-20`).
 * - bucket: the hour, day, ISO week, month or year a snapshot falls in; a count rule keeps the
 *   newest snapshot of each of the N newest buckets.
 *
 * `applyPolicy` and `groupSnapshots` are pure; `forget` and `forgetSnapshots` touch the repository
 * and remove only snapshot files (unreferenced data is left for prune).
 */
export {
  applyPolicy,
  describePolicy,
  groupSnapshots,
  isEmptyPolicy,
  isoWeek,
  parseDuration,
  validatePolicy,
  type ApplyOptions,
  type Decision,
  type Duration,
  type GroupField,
  type RetentionPolicy,
  type TimeZone,
} from './policy.js'
export { forget, forgetSnapshots, type ForgetOptions, type ForgetProgress, type ForgetSnapshotsOptions, type ForgetSnapshotsSummary, type ForgetSummary } from './forget.js'
