// The floor under any unchanged sync of a folder in Node: start the runtime, load node:crypto, and
// lstat every entry of the folder (what telling unchanged files from changed ones needs at least),
// nothing else; prints one JSON line with the number of entries. The benchmark runs it with each
// Node beside the sync it measures, as a process of its own, so the sync's wall time can be read
// against what no Node program could go below on the same machine in the same run.
//
//   node bench/floor.mjs <folder>
import { lstatSync, readdirSync } from 'node:fs'
import { createHmac } from 'node:crypto'

const root = process.argv[2]
if (!root) {
  console.error('usage: node bench/floor.mjs <folder>')
  process.exit(2)
}
let entries = 0
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    const path = `${dir}/${name}`
    const st = lstatSync(path, { bigint: true })
    entries++
    if (st.isDirectory()) walk(path)
  }
}
walk(root)
// One keyed hash, so that node:crypto is loaded and initialised as a sync's would be.
createHmac('sha256', 'key').update(String(entries)).digest()
console.log(JSON.stringify({ op: 'floor', entries }))
