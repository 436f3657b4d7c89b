import type { CarbonDestinationConfig } from '../../config/schema';
import { LineEncoder } from '../../codec/line-encoder';
import { PickleEncoder } from '../../codec/pickle-encoder';
import type { Destination } from '../destination';
import { SocketTransport } from '../transport/socket';
import { apiKeyPrefix, assembleDestination, type DestinationKindDeps } from './options';
import { destinationQueue } from './spool-queue';

/** `type: carbon`: pickle or plaintext to a Carbon receiver over TCP or TLS. */
export function buildCarbonDestination(d: CarbonDestinationConfig, deps: DestinationKindDeps): Destination {
  const tls = d.tls === false ? undefined : d.tls === true ? { rejectUnauthorized: true } : d.tls;
  if (tls && !tls.rejectUnauthorized) {
    deps.log.warn('TLS certificate verification is OFF for this destination; anyone on the path can read and alter the data', { destination: d.name });
  }
  const transport = new SocketTransport({ host: d.host, port: d.port, connectTimeoutMs: d.connectTimeout, tls });
  const prefix = apiKeyPrefix(d);
  const encoder = d.protocol === 'pickle' ? new PickleEncoder(prefix, d.maxFrameBytes) : new LineEncoder(prefix, d.maxLineBytes);
  return assembleDestination(d, { transport, encoder, queue: destinationQueue(d, deps) }, deps);
}
