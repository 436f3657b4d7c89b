import type net from 'node:net';

/**
 * Connections accepted elsewhere and handed to this process (`workers: N`:
 * the primary accepts on the receivers' ports and hands each connection to
 * the worker holding the fewest). A StreamListener given a feed registers
 * with it instead of listening.
 */
export interface ConnectionFeed {
  /** Hands the connections for listener `name` to `accept` until the returned function is called. */
  register(name: string, accept: (socket: net.Socket) => void): () => void;
}
