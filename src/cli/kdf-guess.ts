/**
 * Whether a CLI command line will open a repository with a password: a guess from the arguments
 * alone, before they are parsed, for starting the key derivation's worker early (bin.ts). Imports
 * nothing: the CLI's entry point runs it before the CLI and the library load.
 */

/**
 * The commands that open a repository with its key (and `key`, whose subcommands do), and those
 * that do not (`recover` copies stored objects without a key; `sync` keeps its own key). Kept by
 * hand beside main.ts's commands: a command missing here only goes without the early start.
 */
const REPOSITORY_COMMANDS = new Set(['init', 'backup', 'snapshots', 'ls', 'restore', 'cat', 'forget', 'prune', 'check', 'doctor', 'unlock', 'stats', 'diff', 'find', 'dump', 'tag', 'copy', 'key'])
const OTHER_COMMANDS = new Set(['sync', 'dashboard', 'help', 'recover'])

/**
 * A guess from the arguments alone, before they are parsed: a command that opens a repository, no
 * help asked for, and no raw key given (see readSecret: a key file or key in the environment wins
 * unless a password file or command is given). A wrong guess costs a worker that stops unused.
 */
export function willDerivePasswordKey(args: string[], env: NodeJS.ProcessEnv): boolean {
  const command = args.find((a) => REPOSITORY_COMMANDS.has(a) || OTHER_COMMANDS.has(a))
  if (command === undefined || !REPOSITORY_COMMANDS.has(command)) return false
  if (args.some((a) => a === '--help' || a === '-h' || a === '--version' || a === '-V')) return false
  const given = (flag: string) => args.some((a) => a === flag || a.startsWith(`${flag}=`))
  if (given('--key-file')) return false
  const password = given('--password-file') || given('--password-command')
  return password || !(env.SESSION_SYNC_KEY_FILE || env.SESSION_SYNC_KEY)
}
