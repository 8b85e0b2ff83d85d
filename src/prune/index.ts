/**
 * Prune layer: mark and sweep.
 * - Mark: every blob reachable from a remaining snapshot is used; each used blob has one keeper copy.
 * - Plan: per pack keep, repack (too much unused, or small) or delete; old unindexed packs go too.
 * - Sweep: new packs → superseding index → delete old index files → delete obsolete packs.
 */
export { planPrune, type PrunePlan, type PackPlan, type PruneOptions } from './plan.js'
export { prune, type PruneSummary } from './prune.js'
