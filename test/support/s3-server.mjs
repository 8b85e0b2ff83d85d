// Runs the S3-compatible test server (s3rver) on 127.0.0.1 in its own process, so the tests talk to
// a real HTTP server. Started with --openssl-legacy-provider: s3rver makes listing continuation
// tokens with DES, which OpenSSL 3 only offers through its legacy provider.
// Prints {"port": N} on stdout once it listens; stops when stdin closes.
import S3rver from 's3rver'

const [, , directory, buckets = ''] = process.argv
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory,
  configureBuckets: buckets.split(',').filter(Boolean).map((name) => ({ name })),
})
const addr = await server.run()
process.stdout.write(`${JSON.stringify({ port: addr.port })}\n`)
process.stdin.resume()
process.stdin.on('end', async () => {
  await server.close()
  process.exit(0)
})
