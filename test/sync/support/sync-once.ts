// Runs one sync of a workspace in its own process, as a CLI call or a second gateway would.
// argv: workspace, then "hold" to print "locked" and keep the workspace lock until stdin closes.
// Prints the sync's summary as one JSON line; the environment names the state folder.
import { WorkspaceSync } from '../../../src/index.js'

const [, , workspace] = process.argv
const sync = WorkspaceSync.create({ workspace, env: process.env })
const t0 = Date.now()
const summary = await sync.syncNow({ trigger: 'manual' })
process.stdout.write(`${JSON.stringify({ ...summary, startedAt: t0, endedAt: Date.now() })}\n`)
await sync.close()
