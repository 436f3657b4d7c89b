import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { canConnect, freePorts } from '../helpers/carbon';
import { tempDirsRemovedAfterAll } from '../helpers/relay';
import { waitFor } from '../helpers/sink';
import { WatchedProcess } from '../helpers/watched-process';

const ROOT = path.resolve(__dirname, '../..');
const newDir = tempDirsRemovedAfterAll();

/** The environment without the npm_* variables of an enclosing `npm run`, which would point a nested npm elsewhere. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return env;
}

/** A config on a free port, logging to stderr only. */
async function relayConfig(): Promise<{ file: string; port: number }> {
  const [port] = await freePorts(1);
  const file = path.join(newDir(), 'relay.yaml');
  fs.writeFileSync(
    file,
    YAML.stringify({ admin: false, selfMetrics: { interval: 0 }, listen: { line: { tcp: { host: '127.0.0.1', port } } }, destinations: [{ name: 'out', file: '-' }], rules: [{ default: true, destinations: ['out'] }] }),
  );
  return { file, port };
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The pids of `pid`'s children (ps from procps). */
function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' }).split('\n').filter((l) => l.trim() !== '').map(Number);
  } catch {
    return []; // ps exits 1 when there are none
  }
}

/** Every descendant of `pid`, deepest last. */
function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  for (const c of childrenOf(pid)) out.push(c, ...descendantsOf(c));
  return out;
}

/**
 * `npm start` under a supervisor: the supervisor signals npm, and the relay
 * must get the signal (drain, exit, free its ports). npm runs the script
 * through /bin/sh, which (dash) does not pass SIGTERM on; the script execs node
 * in the shell's place. `--ignore-scripts` skips only the prestart build
 * (interop tests run on a fresh `npm run build`), not the start script.
 */
describe('npm start passes SIGTERM on to the relay', () => {
  const startUnderNpm = async (cwd: string, port: number, args: string[]): Promise<{ npm: WatchedProcess; relayPid: number }> => {
    const npm = new WatchedProcess(spawn('npm', ['start', '--ignore-scripts', '--', ...args], { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] }), 64 * 1024);
    await waitFor(() => npm.output.includes('carbon-fanout started') || npm.exitStatus !== null, 'the relay started under npm', 30_000);
    expect(npm.exitStatus).toBeNull();
    expect(await canConnect(port)).toBe(true);
    const nodes = descendantsOf(npm.child.pid!).filter((pid) => {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return cmd.includes('dist/cli.js') && cmd.startsWith('node');
    });
    expect(nodes).toHaveLength(1);
    return { npm, relayPid: nodes[0] };
  };

  it("the package's start script: SIGTERM to npm stops the relay, which drains and frees its port", async () => {
    const { file, port } = await relayConfig();
    const { npm, relayPid } = await startUnderNpm(ROOT, port, ['-c', file]);
    npm.child.kill('SIGTERM');
    await npm.exited;
    await waitFor(() => !alive(relayPid), 'the relay process exited', 15_000);
    expect(npm.output).toContain('shutdown complete');
    expect(await canConnect(port)).toBe(false);
  }, 60_000);

  it('control: a start script without exec leaves the relay running after npm is gone (what the check above would catch)', async () => {
    const { file, port } = await relayConfig();
    const pkg = newDir();
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'no-exec', version: '1.0.0', private: true, scripts: { start: `node ${path.join(ROOT, 'dist/cli.js')} start` } }));
    const { npm, relayPid } = await startUnderNpm(pkg, port, ['-c', file]);
    try {
      npm.child.kill('SIGTERM');
      await npm.exited;
      // the shell between npm and node took the signal and died; node never saw it
      expect(alive(relayPid)).toBe(true);
      expect(await canConnect(port)).toBe(true);
    } finally {
      process.kill(relayPid, 'SIGKILL');
    }
  }, 60_000);
});
