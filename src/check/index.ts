/**
 * Repository checking. Nouns: a `CheckReport` (the outcome of `check`: `ok`, the `Problem`s found,
 * `CheckCounts` of what was examined, the `RequestCounts` it cost), a `Problem` (a stable
 * `ProblemKind` code, the object at fault by full id, a message), `WARNING_KINDS` (kinds that do
 * not make a report fail), and a `DataSubset` (which packs a partial read-data check downloads:
 * `n/m` or `P%`, see `parseDataSubset` and `selectPacks`), and `adviceFor` (what to do about the
 * problems of a report). `check` never modifies the repository. `doctor` proves the storage's
 * protections on a canary object and reports each as a `DoctorCheck`. `checkVersions` names the delete
 * markers and overwrites in the storage's object versions that no trusted operation made.
 */
export { doctor, type DoctorCheck, type DoctorCheckName, type DoctorReport } from './doctor.js'
export {
  check,
  isWarning,
  parseDataSubset,
  selectPacks,
  WARNING_KINDS,
  type CheckCounts,
  type CheckOptions,
  type CheckProgress,
  type CheckReport,
  type DataSubset,
  type Problem,
  type ProblemKind,
} from './check.js'
export { adviceFor } from './advice.js'
export { checkVersions, type VersionEvent, type VersionsReport } from './versions.js'
