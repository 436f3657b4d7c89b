import { buildRouters } from '../../src/routing/build';
import { silentLogger } from '../../src/telemetry/logger';
import { configFrom } from '../helpers/relay';

/**
 * Relays behind a load balancer must agree on where a series goes: the rings
 * are a function of the config's contents, not of the order it lists
 * destinations or members in (jump_fnv1a_ch orders by each member's instance).
 */
describe('hash groups do not depend on listing order', () => {
  const members = Array.from({ length: 5 }, (_, i) => ({ name: `cache${i}`, host: `10.0.0.${i + 1}`, port: 2004, instance: String(i) }));

  function placement(type: string, order: typeof members): Map<string, string> {
    const config = configFrom({
      destinations: order,
      groups: [{ name: 'g', type, members: order.map((m) => m.name) }],
      rules: [{ default: true, destinations: ['g'] }],
    });
    const routers = buildRouters(config, (d) => d.name, silentLogger());
    const out = new Map<string, string>();
    for (let i = 0; i < 2000; i++) {
      const name = `servers.host${i}.cpu.load`;
      out.set(name, routers.received.route(name).destinations.join(','));
    }
    return out;
  }

  it.each(['carbon_ch', 'fnv1a_ch', 'jump_fnv1a_ch'])('%s: the same placement with the members listed in reverse and shuffled', (type) => {
    const forward = placement(type, members);
    expect(new Set(forward.values()).size).toBe(5); // every member gets some
    expect(placement(type, [...members].reverse())).toEqual(forward);
    expect(placement(type, [members[2]!, members[0]!, members[4]!, members[1]!, members[3]!])).toEqual(forward);
  });

  it('jump_fnv1a_ch refuses a member without an instance (its position would then be its place in the list)', () => {
    const noInstance = members.map(({ instance: _instance, ...m }) => m);
    expect(() =>
      configFrom({ destinations: noInstance, groups: [{ name: 'g', type: 'jump_fnv1a_ch', members: noInstance.map((m) => m.name) }], rules: [{ default: true, destinations: ['g'] }] }),
    ).toThrow(/groups\.0\.members\.0: "cache0" needs an instance: jump_fnv1a_ch orders members by it/);
  });
});
