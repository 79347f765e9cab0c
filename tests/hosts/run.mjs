// Runs a wasi:cli command component under Node with jco's preview2-shim: the
// component as `jco transpile --instantiation async` wrote it, its WASI given by
// the shim's Node implementation (sockets included) with one preopened
// directory, arguments and no environment.
//
// usage: node run.mjs TRANSPILED_DIR NAME HOST_DIR::GUEST_DIR [ARG...]
//
// `cargo xtask setup` copies this file next to the jco it installs
// (target/hosts/jco), where the shim resolves. The exit code is the
// component's: 0, what it passed to `exit`, or 1 when `run` failed or trapped.
import { WASIShim } from '@bytecodealliance/preview2-shim/instantiation';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dir, name, map, ...args] = process.argv.slice(2);
const [hostDir, guestDir] = map.split('::');
const { instantiate } = await import(pathToFileURL(resolve(dir, `${name}.js`)).href);
const shim = new WASIShim({
  sandbox: { preopens: { [guestDir]: resolve(hostDir) }, env: {}, args: [name, ...args] },
});
const compile = async (file) => WebAssembly.compile(await readFile(resolve(dir, file)));
const instance = await instantiate(compile, shim.getImportObject());
const run = Object.entries(instance).find(([key]) => key === 'run' || key.startsWith('wasi:cli/run@'));
if (!run) {
  console.error(`${name} exports no wasi:cli/run: ${Object.keys(instance).join(', ')}`);
  process.exit(2);
}
try {
  run[1].run();
} catch (e) {
  console.error(`${name}: run failed:`, e);
  process.exitCode = 1;
}
