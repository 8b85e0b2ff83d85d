import { readFileSync } from 'node:fs'
import { InvalidOptionsError } from '../index.js'

export interface SecretSources {
  passwordFile?: string
  keyFile?: string
}

/**
 * Where the CLI gets the secret, first match wins: --key-file or SESSION_SYNC_KEY (a raw 32-byte
 * key, base64), --password-file, SESSION_SYNC_PASSWORD, then a prompt when stdin is a terminal.
 */
export async function readSecret(src: SecretSources, confirm: boolean, promptOnly = false): Promise<{ password?: string; key?: Uint8Array }> {
  if (promptOnly) return askPassword(confirm)
  const keyText = src.keyFile ? readText(src.keyFile, 'key file') : process.env.SESSION_SYNC_KEY
  if (keyText) {
    const key = Buffer.from(keyText.trim(), 'base64')
    if (key.length !== 32) throw new InvalidOptionsError('the key must be 32 bytes, base64-encoded (44 characters)')
    return { key }
  }
  if (src.passwordFile) return { password: readText(src.passwordFile, 'password file').replace(/\r?\n$/, '') }
  if (process.env.SESSION_SYNC_PASSWORD) return { password: process.env.SESSION_SYNC_PASSWORD }
  return askPassword(confirm)
}

async function askPassword(confirm: boolean): Promise<{ password: string }> {
  if (process.stdin.isTTY) {
    const pw = await prompt('enter password for repository: ')
    if (confirm && (await prompt('enter password again: ')) !== pw) throw new InvalidOptionsError('the passwords do not match')
    return { password: pw }
  }
  throw new InvalidOptionsError('no password: set SESSION_SYNC_PASSWORD, or use --password-file, or run on a terminal to be asked')
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
