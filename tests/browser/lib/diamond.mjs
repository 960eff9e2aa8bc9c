// Starts the real diamond binary on a free 127.0.0.1 port with a temporary data directory, and
// stops it. The binary is target/debug/diamond unless DIAMOND_BIN says otherwise.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export function diamondBin() {
  const bin = process.env.DIAMOND_BIN ?? join(repoRoot, 'target/debug/diamond');
  if (!existsSync(bin)) throw new Error(`${bin} not found: run cargo build -p diamond-server first`);
  return bin;
}

/** Starts `diamond serve`; `config` is prometheus.yml text or undefined for the embedded default. */
export async function startDiamond({ config, args = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'diamond-ui-'));
  const argv = ['serve', '--web.listen-address', '127.0.0.1:0', '--storage.tsdb.path', join(dir, 'data'), '--log.level', 'warn', ...args];
  if (config !== undefined) {
    writeFileSync(join(dir, 'prometheus.yml'), config);
    argv.push('--config.file', join(dir, 'prometheus.yml'));
  }
  const child = spawn(diamondBin(), argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; if (stderr.length > 1e5) stderr = stderr.slice(-5e4); });
  const base = await new Promise((ok, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`diamond did not start in 30 s: ${stderr}`)), 30000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/[0-9.:]+)/.exec(out);
      if (m) { clearTimeout(timer); ok(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`diamond exited with ${code}: ${stderr}`)); });
  });
  return {
    base,
    dir,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null) {
        const done = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10000);
        await done;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Whether a GET answers something other than 404 (an endpoint that has landed). */
export async function hasEndpoint(base, path) {
  const res = await fetch(base + path);
  await res.arrayBuffer();
  return res.status !== 404;
}
