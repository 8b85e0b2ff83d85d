// A single-node Ceph RADOS Gateway on 127.0.0.1, started by the tests: a real S3 server that enforces
// versioning, Object Lock retention (GOVERNANCE and COMPLIANCE), legal holds and bucket policies.
// One monitor, one OSD on memstore (in memory) and radosgw, all in the foreground of child processes
// that stop() ends. Authentication inside the cluster is off (radosgw's own defaults want cephx, so
// the client settings say none too); S3 users are made with radosgw-admin. Needs Debian's packages:
//   apt-get install --no-install-recommends ceph-mon ceph-osd radosgw ceph-common
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { S3Client } from '@aws-sdk/client-s3'
import { S3Backend, type S3Options } from '../../src/backend/s3.js'
import { tempDir } from '../helpers.js'

const BINARIES = ['monmaptool', 'ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph']

/** Why the gateway cannot run here (a missing program), or undefined when it can. */
export function radosgwMissing(): string | undefined {
  const missing = BINARIES.filter((b) => !['/usr/bin', '/usr/sbin', '/bin'].some((d) => existsSync(join(d, b))))
  return missing.length > 0 ? `${missing.join(', ')} not installed: "apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common" (.ci/run does)` : undefined
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

export interface RadosgwUser {
  uid: string
  accessKeyId: string
  secretAccessKey: string
}

export class Radosgw {
  private constructor(
    private readonly children: ChildProcess[],
    private readonly conf: string,
    readonly endpoint: string,
    readonly dir: string,
  ) {}

  /** Starts the cluster and the gateway (about 15 s); `users` are made at once (S3 keys derived from the uid). */
  static async start(users: string[] = ['owner', 'agent']): Promise<{ gw: Radosgw; users: Record<string, RadosgwUser> }> {
    const dir = tempDir('radosgw')
    for (const d of ['mon', 'osd0', 'run', 'log', 'rgw']) mkdirSync(join(dir, d))
    const fsid = randomUUID()
    const [monPort, rgwPort] = [await freePort(), await freePort()]
    const conf = join(dir, 'ceph.conf')
    writeFileSync(
      conf,
      `[global]
fsid = ${fsid}
mon host = v2:127.0.0.1:${monPort}
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
osd fast shutdown = false
run dir = ${dir}/run
admin socket = ${dir}/run/$name.$pid.asok
log file = ${dir}/log/$name.log
osd objectstore = memstore
memstore device bytes = 536870912
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
osd crush chooseleaf type = 0
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0
[mon.a]
mon data = ${dir}/mon
[osd.0]
osd data = ${dir}/osd0
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw data = ${dir}/rgw
`,
    )
    const run = (cmd: string, args: string[]) => {
      const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 })
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}`)
      return r.stdout
    }
    const children: ChildProcess[] = []
    const daemon = (cmd: string, args: string[]) => {
      const c = spawn(cmd, [...args, '-f', '-c', conf], { stdio: 'ignore' })
      children.push(c)
      return c
    }
    const gw = new Radosgw(children, conf, `http://127.0.0.1:${rgwPort}`, dir)
    try {
      run('monmaptool', ['--create', '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, '--fsid', fsid, join(dir, 'monmap')])
      run('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap'), '-c', conf])
      daemon('ceph-mon', ['-i', 'a'])
      run('ceph', ['-c', conf, '--connect-timeout', '30', 'osd', 'create'])
      run('ceph-osd', ['-i', '0', '--mkfs', '-c', conf])
      daemon('ceph-osd', ['-i', '0'])
      const rgw = daemon('radosgw', ['-n', 'client.rgw'])
      const deadline = Date.now() + 120_000
      for (;;) {
        if (rgw.exitCode !== null) throw new Error(`radosgw exited with code ${rgw.exitCode}; see ${dir}/log`)
        const up = await fetch(gw.endpoint).then(
          (r) => r.status > 0,
          () => false,
        )
        if (up) break
        if (Date.now() > deadline) throw new Error(`radosgw did not answer within 120 s; see ${dir}/log`)
        await new Promise((r) => setTimeout(r, 250))
      }
      const made: Record<string, RadosgwUser> = {}
      for (const uid of users) {
        const u = { uid, accessKeyId: `${uid.toUpperCase()}KEY`.padEnd(20, 'X'), secretAccessKey: `${uid}-secret-${fsid}` }
        run('radosgw-admin', ['-c', conf, '-n', 'client.rgw', 'user', 'create', '--uid', uid, '--display-name', uid, '--access-key', u.accessKeyId, '--secret', u.secretAccessKey])
        made[uid] = u
      }
      return { gw, users: made }
    } catch (e) {
      await gw.stop()
      throw e
    }
  }

  /** An SDK client acting as a user (for bucket set-up: versioning, Object Lock, policies). */
  client(u: RadosgwUser): S3Client {
    return new S3Client({ region: 'us-east-1', endpoint: this.endpoint, forcePathStyle: true, credentials: { accessKeyId: u.accessKeyId, secretAccessKey: u.secretAccessKey }, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' })
  }

  /** The library's S3 backend acting as a user. */
  backend(u: RadosgwUser, opts: Partial<S3Options> & { bucket: string }): S3Backend {
    return new S3Backend({ endpoint: this.endpoint, forcePathStyle: true, credentials: { accessKeyId: u.accessKeyId, secretAccessKey: u.secretAccessKey }, ...opts })
  }

  /** Ends the daemons this harness started (by their process ids), radosgw first. */
  async stop(): Promise<void> {
    for (const c of [...this.children].reverse()) {
      if (c.exitCode !== null || c.signalCode !== null) continue
      const exited = new Promise((r) => c.once('exit', r))
      c.kill('SIGTERM')
      const timer = setTimeout(() => c.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
  }
}
