/**
 * The dashboard: an agent's memory over time, in a browser. Its nouns:
 * - DashboardModel: what the pages show, computed from the sync layer and the stored trees.
 * - The app: Hono routes (the API, downloads, the built page) with the security rules in server.ts.
 * - Assets: the Preact front end built into dist/dashboard at package build time, served by name.
 * - A restore job: an in-place or staged restore (or undo) running in the server, with cancel.
 */
export { createDashboardApp, newToken, tokenMatches, TOKEN_HEADER, COOKIE, cookieName, tokenAuth, type DashboardAuth, type DashboardAppOptions, type RestoreJob } from './server.js'
export { startDashboard, type DashboardHandle } from './serve.js'
export { DashboardModel } from './model.js'
export { repositorySource, workspaceSource, type DashboardSource } from './source.js'
