// Bundles the integration as `bp bundle` does (packages/cli bundle-command):
// esbuild, platform node, target es2020, keepNames, everything bundled, CJS,
// exporting `default` (the Integration) and `handler` (= default.handler).
import { build } from 'esbuild'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.dirname(fileURLToPath(import.meta.url))
const outfile = path.join(root, '.botpress', 'dist', 'index.cjs')

await build({
  stdin: {
    contents: "import integration from './src/index'\nexport default integration\nexport const handler = integration.handler\n",
    resolveDir: root,
    loader: 'ts',
    sourcefile: 'entry.ts',
  },
  bundle: true,
  platform: 'node',
  target: 'es2020',
  format: 'cjs',
  keepNames: true,
  sourcemap: false,
  minify: false,
  outfile,
  logLevel: 'warning',
})
console.log(`bundled ${path.relative(root, outfile)}`)
