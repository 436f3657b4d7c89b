import type { FileDestinationConfig } from '../../config/schema';
import { LineEncoder } from '../../codec/line-encoder';
import type { Destination } from '../destination';
import { FileTransport } from '../transport/file';
import { apiKeyPrefix, assembleDestination, type DestinationKindDeps } from './options';

/** `type: file`: plaintext lines appended to a file, or written to stdout for `-`. */
export function buildFileDestination(d: FileDestinationConfig, deps: DestinationKindDeps): Destination {
  return assembleDestination(d, { transport: new FileTransport(d.file), encoder: new LineEncoder(apiKeyPrefix(d)) }, deps);
}
