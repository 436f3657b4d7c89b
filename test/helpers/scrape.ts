import type { Relay } from '../../src/relay/relay';

/** The value of one sample of the relay's /metrics (admin listener), by name without the prefix and exact labels; undefined when absent. */
export async function metric(relay: Relay, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const body = await (await fetch(`http://127.0.0.1:${relay.topology.admin!.port}/metrics`)).text();
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of body.split('\n')) {
    const m = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (m === null || m[1] !== `carbon_fanout_${name}`) continue;
    const have = (m[2] as string).split(',');
    if (want.every((w) => have.includes(w)) && have.length === want.length) return Number(m[3]);
  }
  return undefined;
}
