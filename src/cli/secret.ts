import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { InvalidOptionsError } from '../index.js'

export interface SecretSources {
  passwordFile?: string
  passwordCommand?: string
  keyFile?: string
}

/**
 * Where the CLI gets the secret, first match wins: --key-file, SESSION_SYNC_KEY_FILE or
 * SESSION_SYNC_KEY (a raw 32-byte key, base64); --password-file or --password-command;
 * SESSION_SYNC_PASSWORD, SESSION_SYNC_PASSWORD_FILE, SESSION_SYNC_PASSWORD_COMMAND; then a prompt
 * when stdin is a terminal. A flag wins over the environment, as in restic.
 */
export async function readSecret(src: SecretSources, confirm: boolean, promptOnly = false): Promise<{ password?: string; key?: Uint8Array }> {
  if (promptOnly) return askPassword(confirm)
  const env = process.env
  const keyFile = src.keyFile ?? (src.passwordFile || src.passwordCommand ? undefined : env.SESSION_SYNC_KEY_FILE)
  const keyText = keyFile ? readText(keyFile, 'key file') : src.passwordFile || src.passwordCommand ? undefined : env.SESSION_SYNC_KEY
  if (keyText) {
    const key = Buffer.from(keyText.trim(), 'base64')
    if (key.length !== 32) throw new InvalidOptionsError('the key must be 32 bytes, base64-encoded (44 characters)')
    return { key }
  }
  if (src.passwordFile && src.passwordCommand) throw new InvalidOptionsError('give --password-file or --password-command, not both')
  if (src.passwordFile) return { password: readText(src.passwordFile, 'password file').replace(/\r?\n$/, '') }
  if (src.passwordCommand) return { password: runPasswordCommand(src.passwordCommand, '--password-command') }
  if (env.SESSION_SYNC_PASSWORD) return { password: env.SESSION_SYNC_PASSWORD }
  if (env.SESSION_SYNC_PASSWORD_FILE) return { password: readText(env.SESSION_SYNC_PASSWORD_FILE, 'password file (SESSION_SYNC_PASSWORD_FILE)').replace(/\r?\n$/, '') }
  if (env.SESSION_SYNC_PASSWORD_COMMAND) return { password: runPasswordCommand(env.SESSION_SYNC_PASSWORD_COMMAND, 'SESSION_SYNC_PASSWORD_COMMAND') }
  return askPassword(confirm)
}

/**
 * Runs a password command through the shell (so `pass show backup` or a pipe work as typed); its
 * first line of output is the password. Its stderr and the terminal stay the user's, for a prompt.
 */
function runPasswordCommand(command: string, where: string): string {
  const r = spawnSync(command, { shell: true, encoding: 'utf8', stdio: ['inherit', 'pipe', 'inherit'], maxBuffer: 1024 * 1024 })
  if (r.error) throw new InvalidOptionsError(`the password command (${where}) could not run: ${r.error.message}`)
  if (r.status !== 0) throw new InvalidOptionsError(`the password command (${where}) failed with ${r.status === null ? `signal ${r.signal}` : `exit status ${r.status}`}; run it by hand to see why`)
  const password = r.stdout.split(/\r?\n/)[0]
  if (!password) throw new InvalidOptionsError(`the password command (${where}) printed no password`)
  return password
}

/**
 * The owner's private key of a protected repository (PEM), first match wins: --owner-key FILE,
 * SESSION_SYNC_OWNER_KEY_FILE, SESSION_SYNC_OWNER_KEY (the PEM itself); undefined when none is given.
 */
export function readOwnerKeyText(file: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (file) return readText(file, 'owner key file (--owner-key)')
  if (env.SESSION_SYNC_OWNER_KEY_FILE) return readText(env.SESSION_SYNC_OWNER_KEY_FILE, 'owner key file (SESSION_SYNC_OWNER_KEY_FILE)')
  return env.SESSION_SYNC_OWNER_KEY || undefined
}

/**
 * Writes a new owner key pair's private half where the owner asked (`--owner-key-out`): a new file
 * only this user may read; an existing file is never replaced.
 */
export function writeOwnerKeyFile(path: string, pem: string): void {
  try {
    writeFileSync(path, pem, { mode: 0o600, flag: 'wx' })
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    throw new InvalidOptionsError(code === 'EEXIST' ? `${path} exists: the owner key is written to a new file only; give another --owner-key-out` : `cannot write the owner key to ${path}: ${(e as Error).message}`)
  }
}

/** The repository location from --repository-file or SESSION_SYNC_REPOSITORY_FILE: the file's first line. */
export function readRepositoryFile(path: string, where: string): string {
  const loc = readText(path, `repository file (${where})`).split(/\r?\n/)[0].trim()
  if (!loc) throw new InvalidOptionsError(`the repository file ${path} (${where}) is empty: write the repository location on its first line`)
  return loc
}

async function askPassword(confirm: boolean): Promise<{ password: string }> {
  if (process.stdin.isTTY) {
    const pw = await prompt('enter password for repository: ')
    if (confirm && (await prompt('enter password again: ')) !== pw) throw new InvalidOptionsError('the passwords do not match')
    return { password: pw }
  }
  throw new InvalidOptionsError('no password: set SESSION_SYNC_PASSWORD (or SESSION_SYNC_PASSWORD_FILE, SESSION_SYNC_PASSWORD_COMMAND), or use --password-file or --password-command, or run on a terminal to be asked')
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (e) {
    throw new InvalidOptionsError(`cannot read ${what} ${path}: ${(e as Error).message}`)
  }
}

/** Reads one line from the terminal without echoing it. */
function prompt(question: string): Promise<string> {
  return new Promise((resolvePw, reject) => {
    const stdin = process.stdin
    process.stderr.write(question)
    stdin.setRawMode(true)
    stdin.resume()
    let text = ''
    const onData = (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') {
          cleanup()
          process.stderr.write('\n')
          resolvePw(text)
          return
        }
        if (ch === '\u0003') {
          cleanup()
          reject(new InvalidOptionsError('password entry cancelled'))
          return
        }
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1)
        else text += ch
      }
    }
    const cleanup = () => {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
    }
    stdin.on('data', onData)
  })
}
