// @ts-check
'use strict';
/**
 * The relay config every bench scenario runs: its listeners, one destination
 * `sink` (the counting sink) that every datapoint goes to.
 * @param {{ writtenBy: string, listen: string, sinkPort: number, output?: string, admin?: string, extra?: string, destinationExtra?: string, workers?: number }} o
 *   listen: the YAML lines under `listen:` (indented two spaces); admin: the `admin:` value (default `{ port: 0 }`);
 *   extra: top-level lines (e.g. dataDir); destinationExtra: lines under the sink destination (indented four spaces);
 *   workers: worker processes (default 1, whatever the core count: scenarios compare one process unless they say otherwise)
 * @returns {string}
 */
function sinkRelayYaml(o) {
  return `# written by ${o.writtenBy}
logLevel: warn
shutdownTimeout: 10s
workers: ${o.workers ?? 1}
admin: ${o.admin ?? '{ port: 0 }'}
${o.extra ?? ''}listen:
${o.listen}
destinations:
  - name: sink
    host: 127.0.0.1
    port: ${o.sinkPort}
    protocol: ${o.output ?? 'pickle'}
${o.destinationExtra ?? ''}rules:
  - default: true
    destinations: [sink]
`;
}

module.exports = { sinkRelayYaml };
